package dev.attune.model.llama;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.attune.model.safetensors.DType;
import dev.attune.model.safetensors.SafetensorsWriter;
import dev.attune.model.safetensors.WeightStore;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.TreeMap;
import java.util.stream.Stream;

/**
 * The specification of a random-weight decoder checkpoint (Llama, Mistral, Qwen2, Qwen3) in the
 * Hugging Face layout, and its writer.
 *
 * <p>No small decoder weights are available to the build, so decoder tests and benchmarks use
 * checkpoints drawn from a seed: {@code config.json} and {@code generation_config.json} as
 * {@code transformers} writes them for the model type, the weights as {@code model.safetensors}
 * (or HF-named shards plus {@code model.safetensors.index.json}) in F32, F16 or BF16, and the
 * tokenizer files copied from a real tokenizer's directory.
 *
 * <p>Every tensor is drawn from its own random stream, seeded by ({@link #seed}, tensor name), so
 * copies of one spec that differ only in dtype or shard count hold the same values before
 * rounding, and {@link #values} gives any tensor's values without writing anything. Matrices and
 * embeddings are normal with standard deviation {@link #initStd}; norm weights are
 * {@code 1 + normStd * N(0,1)}; Qwen2's q/k/v biases are normal with standard deviation
 * {@code initStd}. The default {@code initStd} is {@code 1/sqrt(hiddenSize)}, which keeps logits of
 * order one at any width (0.022 at TinyLlama's 2048, close to HF's 0.02 initializer range).
 *
 * <p>Writing computes one tensor at a time, so a 1.1B-parameter checkpoint
 * ({@link #tinyLlamaShape()}) needs memory for its largest tensor only.
 *
 * <p>Failure: the constructor validates the spec and throws {@link IllegalArgumentException} naming
 * the field at fault; {@link #write} also refuses a vocabulary smaller than the tokenizer's and
 * throws {@link IOException} for file errors. Each file is written atomically, but a failed write
 * may leave some of the directory's files written.
 *
 * <p>Threading: immutable; {@link #values} may be called from any thread.
 *
 * @param modelType             the architecture
 * @param hiddenSize            width of the residual stream
 * @param numLayers             decoder layers
 * @param numHeads              query heads per layer
 * @param numKvHeads            key/value heads per layer (GQA when fewer than {@code numHeads})
 * @param headDim               width of one head, written as {@code head_dim}; need not be
 *                              {@code hiddenSize / numHeads}
 * @param intermediateSize      width of the gated MLP
 * @param vocabSize             rows of the embedding and of {@code lm_head}
 * @param maxPositionEmbeddings {@code max_position_embeddings}
 * @param ropeTheta             RoPE base
 * @param ropeScaling           RoPE frequency scaling
 * @param rmsNormEps            epsilon of every RMSNorm
 * @param tieWordEmbeddings     whether logits use the embedding matrix (no {@code lm_head.weight})
 * @param slidingWindow         Mistral's attention window in tokens, or null for none (other types: null)
 * @param bosTokenId            {@code bos_token_id}
 * @param eosTokenIds           {@code eos_token_id}: one id is written as a number, several as a list
 * @param dtype                 stored dtype of every tensor, written as {@code torch_dtype}
 * @param shards                1 for {@code model.safetensors}, more for HF-named shards and an index
 * @param seed                  the seed every tensor's stream is derived from
 * @param initStd               standard deviation of matrices, embeddings and biases
 * @param normStd               standard deviation of norm weights around 1
 */
public record RandomDecoderCheckpoint(
        ModelType modelType,
        int hiddenSize,
        int numLayers,
        int numHeads,
        int numKvHeads,
        int headDim,
        int intermediateSize,
        int vocabSize,
        int maxPositionEmbeddings,
        double ropeTheta,
        RopeScaling ropeScaling,
        double rmsNormEps,
        boolean tieWordEmbeddings,
        Integer slidingWindow,
        int bosTokenId,
        List<Integer> eosTokenIds,
        DType dtype,
        int shards,
        long seed,
        double initStd,
        double normStd) {

    /** The {@code transformers} version written into the config files. */
    public static final String TRANSFORMERS_VERSION = "4.51.3";

    public static final String CONFIG_FILE = "config.json";
    public static final String GENERATION_CONFIG_FILE = "generation_config.json";
    public static final String TOKENIZER_FILE = "tokenizer.json";

    /** Files of a tokenizer directory that are never copied: they describe a model, not a tokenizer. */
    private static final Set<String> NOT_TOKENIZER =
            Set.of(CONFIG_FILE, GENERATION_CONFIG_FILE, WeightStore.INDEX_FILE);

    /** The decoder architectures, with their HF {@code model_type} and {@code architectures} entry. */
    public enum ModelType {
        LLAMA("llama", "LlamaForCausalLM"),
        MISTRAL("mistral", "MistralForCausalLM"),
        QWEN2("qwen2", "Qwen2ForCausalLM"),
        QWEN3("qwen3", "Qwen3ForCausalLM");

        private final String hfName;
        private final String architecture;

        ModelType(String hfName, String architecture) {
            this.hfName = hfName;
            this.architecture = architecture;
        }

        /** {@code model_type} in config.json. */
        public String hfName() {
            return hfName;
        }

        /** The single entry of {@code architectures} in config.json. */
        public String architecture() {
            return architecture;
        }

        /** Qwen2 has q/k/v biases (and no o bias). */
        public boolean hasQkvBias() {
            return this == QWEN2;
        }

        /** Qwen3 RMS-normalises each head of q and k before RoPE. */
        public boolean hasQkNorm() {
            return this == QWEN3;
        }

        public static ModelType parse(String hfName) {
            for (ModelType t : values()) {
                if (t.hfName.equals(hfName)) {
                    return t;
                }
            }
            throw new IllegalArgumentException(
                    "modelType: '" + hfName + "' is not one of llama, mistral, qwen2, qwen3");
        }
    }

    /** RoPE frequency scaling as HF's {@code rope_scaling}. */
    public sealed interface RopeScaling {

        /** No scaling: {@code rope_scaling} is null. */
        record None() implements RopeScaling {}

        /** Position interpolation: every inverse frequency divided by {@code factor}. */
        record Linear(double factor) implements RopeScaling {}

        /** Llama 3.1's wavelength bands ({@code _compute_llama3_parameters}). */
        record Llama3(double factor, double lowFreqFactor, double highFreqFactor, int originalMaxPositionEmbeddings)
                implements RopeScaling {}

        RopeScaling NONE = new None();

        static RopeScaling linear(double factor) {
            return new Linear(factor);
        }

        static RopeScaling llama3(
                double factor, double lowFreqFactor, double highFreqFactor, int originalMaxPositions) {
            return new Llama3(factor, lowFreqFactor, highFreqFactor, originalMaxPositions);
        }
    }

    public RandomDecoderCheckpoint {
        Objects.requireNonNull(modelType, "modelType");
        Objects.requireNonNull(ropeScaling, "ropeScaling");
        Objects.requireNonNull(dtype, "dtype");
        eosTokenIds = List.copyOf(Objects.requireNonNull(eosTokenIds, "eosTokenIds"));
        positive("hiddenSize", hiddenSize);
        positive("numLayers", numLayers);
        positive("numHeads", numHeads);
        positive("numKvHeads", numKvHeads);
        positive("headDim", headDim);
        positive("intermediateSize", intermediateSize);
        positive("vocabSize", vocabSize);
        positive("maxPositionEmbeddings", maxPositionEmbeddings);
        positive("shards", shards);
        if (numHeads % numKvHeads != 0) {
            throw new IllegalArgumentException("numKvHeads: " + numKvHeads + " does not divide numHeads " + numHeads);
        }
        if (headDim % 2 != 0) {
            throw new IllegalArgumentException("headDim: " + headDim + " is odd; RoPE rotates two halves of each head");
        }
        if (!(ropeTheta > 0) || Double.isInfinite(ropeTheta)) {
            throw new IllegalArgumentException("ropeTheta: " + ropeTheta + " must be positive and finite");
        }
        if (!(rmsNormEps > 0) || rmsNormEps >= 1) {
            throw new IllegalArgumentException("rmsNormEps: " + rmsNormEps + " must be in (0, 1)");
        }
        if (!(initStd > 0) || Double.isInfinite(initStd)) {
            throw new IllegalArgumentException("initStd: " + initStd + " must be positive and finite");
        }
        if (!(normStd >= 0) || Double.isInfinite(normStd)) {
            throw new IllegalArgumentException("normStd: " + normStd + " must be non-negative and finite");
        }
        if (slidingWindow != null) {
            if (modelType != ModelType.MISTRAL) {
                throw new IllegalArgumentException(
                        "slidingWindow: only mistral checkpoints have one, not " + modelType.hfName());
            }
            positive("slidingWindow", slidingWindow);
        }
        if (ropeScaling instanceof RopeScaling.Linear l && !(l.factor() > 0)) {
            throw new IllegalArgumentException("ropeScaling: linear factor " + l.factor() + " must be positive");
        }
        if (ropeScaling instanceof RopeScaling.Llama3 s) {
            if (!(s.factor() > 0) || !(s.lowFreqFactor() > 0) || !(s.highFreqFactor() > 0)) {
                throw new IllegalArgumentException("ropeScaling: llama3 factors must be positive, got " + s);
            }
            if (s.highFreqFactor() < s.lowFreqFactor()) {
                throw new IllegalArgumentException("ropeScaling: llama3 highFreqFactor " + s.highFreqFactor()
                        + " is below lowFreqFactor " + s.lowFreqFactor());
            }
            positive("ropeScaling.originalMaxPositionEmbeddings", s.originalMaxPositionEmbeddings());
        }
        tokenId("bosTokenId", bosTokenId, vocabSize);
        if (eosTokenIds.isEmpty()) {
            throw new IllegalArgumentException("eosTokenIds: at least one id is needed");
        }
        for (int id : eosTokenIds) {
            tokenId("eosTokenIds", id, vocabSize);
        }
        int tensors = 3
                + numLayers * (9 + (modelType.hasQkvBias() ? 3 : 0) + (modelType.hasQkNorm() ? 2 : 0))
                - (tieWordEmbeddings ? 1 : 0);
        if (shards > tensors) {
            throw new IllegalArgumentException(
                    "shards: " + shards + " is more than the checkpoint's " + tensors + " tensors");
        }
    }

    private static void positive(String field, long v) {
        if (v <= 0) {
            throw new IllegalArgumentException(field + ": " + v + " must be positive");
        }
    }

    private static void tokenId(String field, int id, int vocabSize) {
        if (id < 0 || id >= vocabSize) {
            throw new IllegalArgumentException(
                    field + ": id " + id + " is outside the vocabulary [0, " + vocabSize + ")");
        }
    }

    // ---------------------------------------------------------------------------------------------
    // Presets and builder

    /**
     * A builder with tiny defaults: hidden 64, 2 layers, 4 heads, 2 KV heads, head_dim
     * hidden/heads (qwen3: must be set), FFN 128, vocab 32000, 2048 positions, theta 10000, eps
     * 1e-5, untied, bos 1, eos 2, F32, one file, seed 42, initStd 1/sqrt(hidden), normStd 0.1.
     */
    public static Builder builder(ModelType type) {
        return new Builder(type);
    }

    /**
     * The shape of TinyLlama-1.1B ({@code TinyLlama/TinyLlama-1.1B-Chat-v1.0}): hidden 2048, 22
     * layers, 32 heads, 4 KV heads, head_dim 64, FFN 5632, vocab 32000 (the Llama 2 tokenizer),
     * 2048 positions, BF16, rope_theta 10000, eps 1e-5, untied, bos 1, eos 2, std 0.02.
     */
    public static RandomDecoderCheckpoint tinyLlamaShape() {
        return builder(ModelType.LLAMA)
                .hiddenSize(2048)
                .numLayers(22)
                .numHeads(32)
                .numKvHeads(4)
                .headDim(64)
                .intermediateSize(5632)
                .vocabSize(32000)
                .maxPositionEmbeddings(2048)
                .ropeTheta(10000)
                .rmsNormEps(1e-5)
                .tieWordEmbeddings(false)
                .bosTokenId(1)
                .eosTokenIds(2)
                .dtype(DType.BF16)
                .initStd(0.02)
                .build();
    }

    /**
     * Writes the {@link #tinyLlamaShape()} benchmark checkpoint (2.2 GB in BF16):
     * {@code RandomDecoderCheckpoint <outDir> [tokenizerDir] [seed]}. Needs a heap of about 1 GB
     * (the largest tensor's fp32 values, 262 MB, plus the JVM's working set).
     */
    public static void main(String[] args) throws IOException {
        if (args.length < 1 || args.length > 3) {
            System.err.println("usage: RandomDecoderCheckpoint <outDir> [tokenizerDir] [seed]");
            System.exit(2);
        }
        RandomDecoderCheckpoint spec = tinyLlamaShape();
        if (args.length == 3) {
            spec = spec.toBuilder().seed(Long.parseLong(args[2])).build();
        }
        long start = System.nanoTime();
        spec.write(Path.of(args[0]), args.length >= 2 ? Path.of(args[1]) : null);
        System.out.printf(
                Locale.ROOT,
                "wrote %,d parameters to %s in %.1f s%n",
                spec.parameterCount(),
                args[0],
                (System.nanoTime() - start) / 1e9);
    }

    /** A builder holding this spec's values, to derive a variant (another dtype, shard count, ...). */
    public Builder toBuilder() {
        Builder b = new Builder(modelType);
        b.hiddenSize = hiddenSize;
        b.numLayers = numLayers;
        b.numHeads = numHeads;
        b.numKvHeads = numKvHeads;
        b.headDim = headDim;
        b.intermediateSize = intermediateSize;
        b.vocabSize = vocabSize;
        b.maxPositionEmbeddings = maxPositionEmbeddings;
        b.ropeTheta = ropeTheta;
        b.ropeScaling = ropeScaling;
        b.rmsNormEps = rmsNormEps;
        b.tieWordEmbeddings = tieWordEmbeddings;
        b.slidingWindow = slidingWindow;
        b.bosTokenId = bosTokenId;
        b.eosTokenIds = eosTokenIds;
        b.dtype = dtype;
        b.shards = shards;
        b.seed = seed;
        b.initStd = initStd;
        b.normStd = normStd;
        return b;
    }

    /** Builds a {@link RandomDecoderCheckpoint}; not thread-safe. Validation happens in {@link #build}. */
    public static final class Builder {
        private ModelType modelType;
        private int hiddenSize = 64;
        private int numLayers = 2;
        private int numHeads = 4;
        private int numKvHeads = 2;
        private Integer headDim; // null: hiddenSize / numHeads, except for qwen3
        private int intermediateSize = 128;
        private int vocabSize = 32000;
        private int maxPositionEmbeddings = 2048;
        private double ropeTheta = 10000;
        private RopeScaling ropeScaling = RopeScaling.NONE;
        private double rmsNormEps = 1e-5;
        private boolean tieWordEmbeddings;
        private Integer slidingWindow;
        private int bosTokenId = 1;
        private List<Integer> eosTokenIds = List.of(2);
        private DType dtype = DType.F32;
        private int shards = 1;
        private long seed = 42;
        private Double initStd; // null: 1/sqrt(hiddenSize)
        private double normStd = 0.1;

        private Builder(ModelType modelType) {
            this.modelType = Objects.requireNonNull(modelType, "modelType");
        }

        public Builder modelType(ModelType v) {
            modelType = Objects.requireNonNull(v, "modelType");
            return this;
        }

        public Builder hiddenSize(int v) {
            hiddenSize = v;
            return this;
        }

        public Builder numLayers(int v) {
            numLayers = v;
            return this;
        }

        public Builder numHeads(int v) {
            numHeads = v;
            return this;
        }

        public Builder numKvHeads(int v) {
            numKvHeads = v;
            return this;
        }

        public Builder headDim(int v) {
            headDim = v;
            return this;
        }

        public Builder intermediateSize(int v) {
            intermediateSize = v;
            return this;
        }

        public Builder vocabSize(int v) {
            vocabSize = v;
            return this;
        }

        public Builder maxPositionEmbeddings(int v) {
            maxPositionEmbeddings = v;
            return this;
        }

        public Builder ropeTheta(double v) {
            ropeTheta = v;
            return this;
        }

        public Builder ropeScaling(RopeScaling v) {
            ropeScaling = v;
            return this;
        }

        public Builder rmsNormEps(double v) {
            rmsNormEps = v;
            return this;
        }

        public Builder tieWordEmbeddings(boolean v) {
            tieWordEmbeddings = v;
            return this;
        }

        /** Mistral's window in tokens; null for none. */
        public Builder slidingWindow(Integer v) {
            slidingWindow = v;
            return this;
        }

        public Builder bosTokenId(int v) {
            bosTokenId = v;
            return this;
        }

        public Builder eosTokenIds(int... v) {
            List<Integer> l = new ArrayList<>();
            for (int id : v) {
                l.add(id);
            }
            eosTokenIds = l;
            return this;
        }

        public Builder dtype(DType v) {
            dtype = v;
            return this;
        }

        public Builder shards(int v) {
            shards = v;
            return this;
        }

        public Builder seed(long v) {
            seed = v;
            return this;
        }

        public Builder initStd(double v) {
            initStd = v;
            return this;
        }

        public Builder normStd(double v) {
            normStd = v;
            return this;
        }

        public RandomDecoderCheckpoint build() {
            int hd;
            if (headDim != null) {
                hd = headDim;
            } else if (modelType == ModelType.QWEN3) {
                // Qwen3's head_dim is its own key (128 in the real models, whatever the width).
                throw new IllegalArgumentException("headDim: qwen3 checkpoints need an explicit head_dim");
            } else if (numHeads > 0 && hiddenSize % numHeads == 0) {
                hd = hiddenSize / numHeads;
            } else {
                throw new IllegalArgumentException("headDim: hiddenSize " + hiddenSize
                        + " is not a multiple of numHeads " + numHeads + "; give headDim explicitly");
            }
            double std = initStd != null ? initStd : hiddenSize > 0 ? 1 / Math.sqrt(hiddenSize) : Double.NaN;
            return new RandomDecoderCheckpoint(
                    modelType,
                    hiddenSize,
                    numLayers,
                    numHeads,
                    numKvHeads,
                    hd,
                    intermediateSize,
                    vocabSize,
                    maxPositionEmbeddings,
                    ropeTheta,
                    ropeScaling,
                    rmsNormEps,
                    tieWordEmbeddings,
                    slidingWindow,
                    bosTokenId,
                    eosTokenIds,
                    dtype,
                    shards,
                    seed,
                    std,
                    normStd);
        }
    }

    // ---------------------------------------------------------------------------------------------
    // Tensors

    /** Every tensor's name and shape ((out, in) for linear weights, as PyTorch stores them), in file order. */
    public Map<String, long[]> tensorShapes() {
        Map<String, long[]> m = new LinkedHashMap<>();
        long h = hiddenSize;
        long q = (long) numHeads * headDim;
        long kv = (long) numKvHeads * headDim;
        long inter = intermediateSize;
        m.put("model.embed_tokens.weight", new long[] {vocabSize, h});
        for (int i = 0; i < numLayers; i++) {
            String p = "model.layers." + i + ".";
            m.put(p + "input_layernorm.weight", new long[] {h});
            m.put(p + "self_attn.q_proj.weight", new long[] {q, h});
            m.put(p + "self_attn.k_proj.weight", new long[] {kv, h});
            m.put(p + "self_attn.v_proj.weight", new long[] {kv, h});
            if (modelType.hasQkvBias()) {
                m.put(p + "self_attn.q_proj.bias", new long[] {q});
                m.put(p + "self_attn.k_proj.bias", new long[] {kv});
                m.put(p + "self_attn.v_proj.bias", new long[] {kv});
            }
            if (modelType.hasQkNorm()) {
                m.put(p + "self_attn.q_norm.weight", new long[] {headDim});
                m.put(p + "self_attn.k_norm.weight", new long[] {headDim});
            }
            m.put(p + "self_attn.o_proj.weight", new long[] {h, q});
            m.put(p + "post_attention_layernorm.weight", new long[] {h});
            m.put(p + "mlp.gate_proj.weight", new long[] {inter, h});
            m.put(p + "mlp.up_proj.weight", new long[] {inter, h});
            m.put(p + "mlp.down_proj.weight", new long[] {h, inter});
        }
        m.put("model.norm.weight", new long[] {h});
        if (!tieWordEmbeddings) {
            m.put("lm_head.weight", new long[] {vocabSize, h});
        }
        return m;
    }

    /** Parameters in the checkpoint (tied embeddings counted once). */
    public long parameterCount() {
        long n = 0;
        for (long[] s : tensorShapes().values()) {
            n += elements(s);
        }
        return n;
    }

    /**
     * The fp32 values of tensor {@code name} before rounding to {@link #dtype}: the same for every
     * copy of this spec that differs only in dtype or shards. Norm weights (names ending in
     * {@code norm.weight}) are {@code 1 + normStd * N(0,1)}; everything else {@code initStd * N(0,1)}.
     */
    public float[] values(String name) {
        long[] shape = tensorShapes().get(name);
        if (shape == null) {
            throw new IllegalArgumentException("the checkpoint has no tensor named '" + name + "'");
        }
        int n = Math.toIntExact(elements(shape));
        boolean norm = name.endsWith("norm.weight");
        double mean = norm ? 1 : 0;
        double std = norm ? normStd : initStd;
        SplittableRandom r = new SplittableRandom(streamSeed(seed, name));
        float[] out = new float[n];
        // Box-Muller by hand rather than nextGaussian, whose algorithm is not specified across JDKs.
        for (int i = 0; i < n; i += 2) {
            double u1 = 1.0 - r.nextDouble(); // (0, 1]: log stays finite
            double u2 = r.nextDouble();
            double radius = Math.sqrt(-2 * Math.log(u1));
            double a = 2 * Math.PI * u2;
            out[i] = (float) (mean + std * radius * Math.cos(a));
            if (i + 1 < n) {
                out[i + 1] = (float) (mean + std * radius * Math.sin(a));
            }
        }
        return out;
    }

    /** A 64-bit seed from (seed, name): FNV-1a over the name's UTF-8 bytes, mixed with the seed. */
    static long streamSeed(long seed, String name) {
        long h = 0xcbf29ce484222325L;
        for (byte b : name.getBytes(StandardCharsets.UTF_8)) {
            h ^= b & 0xff;
            h *= 0x100000001b3L;
        }
        // SplittableRandom mixes its seed further, so an xor with a multiplied seed suffices.
        return h ^ (seed * 0x9e3779b97f4a7c15L);
    }

    private static long elements(long[] shape) {
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        return n;
    }

    // ---------------------------------------------------------------------------------------------
    // Config files

    /** {@code config.json} as {@code transformers} writes it for this model type (keys sorted, as HF does). */
    public ObjectNode configJson() {
        ObjectMapper json = new ObjectMapper();
        Map<String, Object> c = new TreeMap<>();
        c.put("architectures", List.of(modelType.architecture()));
        c.put("model_type", modelType.hfName());
        c.put("attention_dropout", 0.0);
        c.put("bos_token_id", bosTokenId);
        c.put("eos_token_id", eosTokenIds.size() == 1 ? eosTokenIds.get(0) : eosTokenIds);
        c.put("head_dim", headDim);
        c.put("hidden_act", "silu");
        c.put("hidden_size", hiddenSize);
        c.put("initializer_range", initStd);
        c.put("intermediate_size", intermediateSize);
        c.put("max_position_embeddings", maxPositionEmbeddings);
        c.put("num_attention_heads", numHeads);
        c.put("num_hidden_layers", numLayers);
        c.put("num_key_value_heads", numKvHeads);
        c.put("rms_norm_eps", rmsNormEps);
        c.put("rope_theta", ropeTheta);
        c.put("tie_word_embeddings", tieWordEmbeddings);
        c.put("torch_dtype", torchDtype(dtype));
        c.put("transformers_version", TRANSFORMERS_VERSION);
        c.put("use_cache", true);
        c.put("vocab_size", vocabSize);
        Object scaling = ropeScalingJson(ropeScaling);
        switch (modelType) {
            case LLAMA -> {
                c.put("attention_bias", false);
                c.put("mlp_bias", false);
                c.put("pretraining_tp", 1);
                c.put("rope_scaling", scaling);
            }
            case MISTRAL -> {
                // MistralConfig has no rope_scaling field; HF keeps an extra key as an attribute,
                // which its rotary embedding reads, so it is written only when there is scaling.
                c.put("sliding_window", slidingWindow);
                if (scaling != null) {
                    c.put("rope_scaling", scaling);
                }
            }
            case QWEN2, QWEN3 -> {
                if (modelType == ModelType.QWEN3) {
                    c.put("attention_bias", false); // Qwen2's q/k/v bias is implied by the type, not a key
                }
                c.put("max_window_layers", numLayers);
                c.put("rope_scaling", scaling);
                c.put("sliding_window", null);
                c.put("use_sliding_window", false);
            }
            default -> throw new IllegalStateException("unhandled model type " + modelType);
        }
        return json.valueToTree(c);
    }

    private static Map<String, Object> ropeScalingJson(RopeScaling s) {
        // Both keys: transformers reads rope_type, versions before 4.45 read type.
        if (s instanceof RopeScaling.Linear l) {
            return new TreeMap<>(Map.of("factor", l.factor(), "rope_type", "linear", "type", "linear"));
        }
        if (s instanceof RopeScaling.Llama3 l) {
            return new TreeMap<>(Map.of(
                    "factor",
                    l.factor(),
                    "low_freq_factor",
                    l.lowFreqFactor(),
                    "high_freq_factor",
                    l.highFreqFactor(),
                    "original_max_position_embeddings",
                    l.originalMaxPositionEmbeddings(),
                    "rope_type",
                    "llama3",
                    "type",
                    "llama3"));
        }
        return null;
    }

    /** {@code generation_config.json}: the bos and eos ids, as HF derives it from the model config. */
    public ObjectNode generationConfigJson() {
        ObjectNode g = new ObjectMapper().createObjectNode();
        g.put("_from_model_config", true);
        g.put("bos_token_id", bosTokenId);
        if (eosTokenIds.size() == 1) {
            g.put("eos_token_id", eosTokenIds.get(0));
        } else {
            ArrayNode a = g.putArray("eos_token_id");
            eosTokenIds.forEach(a::add);
        }
        g.put("transformers_version", TRANSFORMERS_VERSION);
        return g;
    }

    /** HF's {@code torch_dtype} name for a stored dtype. */
    public static String torchDtype(DType d) {
        return switch (d) {
            case F32 -> "float32";
            case F16 -> "float16";
            case BF16 -> "bfloat16";
        };
    }

    // ---------------------------------------------------------------------------------------------
    // Writing

    /** Writes the checkpoint into {@code dir} (created if absent) without tokenizer files. */
    public void write(Path dir) throws IOException {
        write(dir, null);
    }

    /**
     * Writes the config files and weights into {@code dir} (created if absent), and copies the
     * tokenizer files ({@code tokenizer.json} and every other {@code *.json} except model configs)
     * from {@code tokenizerDir} when it is not null.
     *
     * @throws IllegalArgumentException if {@code tokenizerDir} has no {@code tokenizer.json} or its
     *                                  vocabulary is larger than {@link #vocabSize}
     */
    public void write(Path dir, Path tokenizerDir) throws IOException {
        List<Path> tokenizerFiles = List.of();
        if (tokenizerDir != null) {
            // Checked before anything is written, so a bad pairing leaves no half-made directory.
            int tokens = tokenizerVocabSize(tokenizerDir.resolve(TOKENIZER_FILE));
            if (tokens > vocabSize) {
                throw new IllegalArgumentException("vocabSize: " + vocabSize + " is smaller than the tokenizer's "
                        + tokens + " tokens (" + tokenizerDir + ")");
            }
            try (Stream<Path> s = Files.list(tokenizerDir)) {
                tokenizerFiles = s.filter(p -> Files.isRegularFile(p)
                                && p.getFileName().toString().endsWith(".json")
                                && !NOT_TOKENIZER.contains(p.getFileName().toString()))
                        .sorted()
                        .toList();
            }
        }
        Files.createDirectories(dir);
        for (Path f : tokenizerFiles) {
            copyAtomically(f, dir.resolve(f.getFileName().toString()));
        }
        writeWeights(dir);
        ObjectMapper json = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
        writeAtomically(dir.resolve(GENERATION_CONFIG_FILE), json.writeValueAsBytes(generationConfigJson()));
        // config.json last: a directory with a config is a complete checkpoint.
        writeAtomically(dir.resolve(CONFIG_FILE), json.writeValueAsBytes(configJson()));
    }

    private void writeWeights(Path dir) throws IOException {
        Map<String, long[]> shapes = tensorShapes();
        if (shards == 1) {
            SafetensorsWriter w = newShardWriter();
            shapes.forEach((name, shape) -> w.add(name, dtype, shape, () -> values(name)));
            w.write(dir.resolve(WeightStore.SINGLE_FILE));
            return;
        }
        List<List<String>> groups = shardGroups(shapes);
        Map<String, String> weightMap = new TreeMap<>();
        long total = 0;
        for (int s = 0; s < groups.size(); s++) {
            String file = String.format(Locale.ROOT, "model-%05d-of-%05d.safetensors", s + 1, shards);
            SafetensorsWriter w = newShardWriter();
            for (String name : groups.get(s)) {
                w.add(name, dtype, shapes.get(name), () -> values(name));
                weightMap.put(name, file);
            }
            total += w.dataBytes();
            w.write(dir.resolve(file));
        }
        ObjectMapper json = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
        ObjectNode index = json.createObjectNode();
        index.putObject("metadata").put("total_size", total);
        ObjectNode map = index.putObject("weight_map");
        weightMap.forEach(map::put);
        writeAtomically(dir.resolve(WeightStore.INDEX_FILE), json.writeValueAsBytes(index));
    }

    private static SafetensorsWriter newShardWriter() {
        return new SafetensorsWriter().metadata("format", "pt"); // as safetensors.torch.save_file writes
    }

    /**
     * Tensors split, in file order, into {@link #shards} non-empty groups of about equal bytes: a
     * shard closes once the bytes so far reach its share of the total, or when every remaining
     * tensor is needed to give each remaining shard one.
     */
    List<List<String>> shardGroups(Map<String, long[]> shapes) {
        long totalElements = 0;
        for (long[] s : shapes.values()) {
            totalElements += elements(s);
        }
        List<List<String>> groups = new ArrayList<>();
        groups.add(new ArrayList<>());
        long done = 0;
        int left = shapes.size();
        for (Map.Entry<String, long[]> e : shapes.entrySet()) {
            groups.get(groups.size() - 1).add(e.getKey());
            done += elements(e.getValue());
            left--;
            int shardsAfter = shards - groups.size();
            boolean share = (double) done >= (double) totalElements * groups.size() / shards;
            if (shardsAfter > 0 && left > 0 && (share || left == shardsAfter)) {
                groups.add(new ArrayList<>());
            }
        }
        if (groups.size() != shards) {
            throw new IllegalStateException("split into " + groups.size() + " shards, not " + shards);
        }
        return Collections.unmodifiableList(groups);
    }

    /**
     * The number of token ids a {@code tokenizer.json} uses: one more than the largest id in
     * {@code model.vocab} and {@code added_tokens}. Streams the file (real ones are 10 MB).
     */
    public static int tokenizerVocabSize(Path tokenizerJson) {
        if (!Files.isRegularFile(tokenizerJson)) {
            throw new IllegalArgumentException("tokenizer: no " + tokenizerJson);
        }
        int max = -1;
        try (JsonParser p = new ObjectMapper().getFactory().createParser(tokenizerJson.toFile())) {
            if (p.nextToken() != JsonToken.START_OBJECT) {
                throw new IllegalArgumentException("tokenizer: " + tokenizerJson + " is not a JSON object");
            }
            while (p.nextToken() == JsonToken.FIELD_NAME) {
                String field = p.currentName();
                p.nextToken();
                if (field.equals("model") && p.currentToken() == JsonToken.START_OBJECT) {
                    while (p.nextToken() == JsonToken.FIELD_NAME) {
                        String f = p.currentName();
                        p.nextToken();
                        if (f.equals("vocab") && p.currentToken() == JsonToken.START_OBJECT) {
                            while (p.nextToken() == JsonToken.FIELD_NAME) {
                                p.nextToken();
                                max = Math.max(max, p.getIntValue());
                            }
                        } else if (f.equals("vocab") && p.currentToken() == JsonToken.START_ARRAY) {
                            // Unigram: a list of [piece, score]; ids are positions.
                            int n = 0;
                            while (p.nextToken() != JsonToken.END_ARRAY) {
                                p.skipChildren();
                                n++;
                            }
                            max = Math.max(max, n - 1);
                        } else {
                            p.skipChildren();
                        }
                    }
                } else if (field.equals("added_tokens") && p.currentToken() == JsonToken.START_ARRAY) {
                    while (p.nextToken() == JsonToken.START_OBJECT) {
                        while (p.nextToken() == JsonToken.FIELD_NAME) {
                            String f = p.currentName();
                            p.nextToken();
                            if (f.equals("id")) {
                                max = Math.max(max, p.getIntValue());
                            } else {
                                p.skipChildren();
                            }
                        }
                    }
                } else {
                    p.skipChildren();
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(tokenizerJson + ": cannot read: " + e.getMessage(), e);
        }
        if (max < 0) {
            throw new IllegalArgumentException("tokenizer: " + tokenizerJson + " has no model.vocab or added_tokens");
        }
        return max + 1;
    }

    private static void writeAtomically(Path target, byte[] bytes) throws IOException {
        Path tmp = Files.createTempFile(target.toAbsolutePath().getParent(), target.getFileName() + ".", ".tmp");
        try {
            Files.write(tmp, bytes);
            Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    private static void copyAtomically(Path source, Path target) throws IOException {
        Path tmp = Files.createTempFile(target.toAbsolutePath().getParent(), target.getFileName() + ".", ".tmp");
        try {
            Files.copy(source, tmp, StandardCopyOption.REPLACE_EXISTING);
            Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } finally {
            Files.deleteIfExists(tmp);
        }
    }
}

package dev.attune.model.llama;

import com.fasterxml.jackson.databind.JsonNode;
import dev.attune.model.JsonFiles;
import dev.attune.model.ModelFormatException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * The architecture of a Llama-family decoder (Llama, Mistral, Qwen2, Qwen3), from a Hugging Face
 * {@code config.json} and, for the token ids, {@code generation_config.json}.
 *
 * <p>The four share one graph: RMSNorm, rotary positions, grouped-query attention, SiLU-gated
 * MLP. They differ in flags read here: Qwen2 has q/k/v bias, Qwen3 an RMSNorm per head on q and
 * k and an explicit {@code head_dim}, Mistral a sliding attention window, Llama 3.1 a rope
 * scaling. Anything the graph does not implement ({@code hidden_act} other than silu,
 * {@code mlp_bias}, Qwen's {@code use_sliding_window}, an unknown rope type) is refused here, with
 * the key and value at fault, before a weight is read.
 *
 * @param modelType      {@code model_type}: llama, mistral, qwen2, qwen3
 * @param hiddenSize     width of the residual stream
 * @param layers         decoder layers
 * @param heads          query heads
 * @param kvHeads        key/value heads ({@code num_key_value_heads}; = heads without GQA)
 * @param headDim        width of one head ({@code head_dim}, else hidden / heads)
 * @param intermediateSize width of the MLP
 * @param vocabSize      rows of the embedding table and of the LM head
 * @param maxPositions   {@code max_position_embeddings}: the longest context
 * @param rmsNormEps     epsilon of every RMSNorm
 * @param ropeTheta      RoPE base
 * @param ropeScaling    RoPE frequency scaling
 * @param tieWordEmbeddings whether the LM head is the embedding table
 * @param qkvBias        q/k/v projections have a bias (Qwen2; {@code attention_bias})
 * @param outputBias     the output projection has a bias ({@code attention_bias} on Llama, Mistral, Qwen3)
 * @param qkNorm         RMSNorm per head on q and k before RoPE (Qwen3)
 * @param slidingWindow  Mistral's attention window in tokens, 0 for none
 * @param bosTokenId     beginning-of-sequence id, or -1
 * @param eosTokenIds    every end-of-sequence id (a list in Llama 3 and Qwen)
 * @param storedDtype    {@code torch_dtype} as written
 */
public record DecoderConfig(
        String modelType,
        int hiddenSize,
        int layers,
        int heads,
        int kvHeads,
        int headDim,
        int intermediateSize,
        int vocabSize,
        int maxPositions,
        double rmsNormEps,
        double ropeTheta,
        RopeScaling ropeScaling,
        boolean tieWordEmbeddings,
        boolean qkvBias,
        boolean outputBias,
        boolean qkNorm,
        int slidingWindow,
        int bosTokenId,
        List<Integer> eosTokenIds,
        String storedDtype) {

    public static final String FILE = "config.json";
    public static final String GENERATION_FILE = "generation_config.json";
    /** The {@code model_type}s this family serves. */
    public static final Set<String> TYPES = Set.of("llama", "mistral", "qwen2", "qwen3");

    public DecoderConfig {
        eosTokenIds = List.copyOf(eosTokenIds);
    }

    /** Width of the query projection, heads · head_dim. */
    public int qDim() {
        return heads * headDim;
    }

    /** Width of the key (and of the value) projection, kv_heads · head_dim. */
    public int kvDim() {
        return kvHeads * headDim;
    }

    /** Bytes of KV cache one token needs in {@code bytesPerValue}: 2 · layers · kv_heads · head_dim · bytes. */
    public long kvBytesPerToken(int bytesPerValue) {
        return 2L * layers * kvDim() * bytesPerValue;
    }

    public static DecoderConfig read(Path dir) {
        Path f = dir.resolve(FILE);
        String file = f.toString();
        JsonNode root = JsonFiles.readObject(f);
        String type = root.path("model_type").asText("");
        if (!TYPES.contains(type)) {
            throw new ModelFormatException(file + ": model_type '" + type + "' is not a decoder this build runs "
                    + "(llama, mistral, qwen2, qwen3)");
        }
        String act = root.path("hidden_act").asText("silu");
        if (!act.equals("silu")) {
            throw new ModelFormatException(file + ": hidden_act '" + act + "' is not supported (silu)");
        }
        if (root.path("mlp_bias").asBoolean(false)) {
            throw new ModelFormatException(file + ": mlp_bias true is not supported");
        }
        if (root.path("use_sliding_window").asBoolean(false)) {
            throw new ModelFormatException(file + ": use_sliding_window true is not supported for " + type);
        }
        int hidden = positive(root, "hidden_size", file);
        int heads = positive(root, "num_attention_heads", file);
        int kvHeads = root.hasNonNull("num_key_value_heads") ? positive(root, "num_key_value_heads", file) : heads;
        if (heads % kvHeads != 0) {
            throw new ModelFormatException(file + ": num_attention_heads " + heads + " is not a multiple of "
                    + "num_key_value_heads " + kvHeads);
        }
        int headDim;
        if (root.hasNonNull("head_dim")) {
            headDim = positive(root, "head_dim", file);
        } else if (hidden % heads == 0) {
            headDim = hidden / heads;
        } else {
            throw new ModelFormatException(file + ": hidden_size " + hidden + " is not a multiple of "
                    + "num_attention_heads " + heads + " and there is no head_dim");
        }
        if (headDim % 2 != 0) {
            throw new ModelFormatException(file + ": head_dim " + headDim + " must be even for rotary positions");
        }
        boolean attentionBias = root.path("attention_bias").asBoolean(false);
        boolean qwen2 = type.equals("qwen2");
        int window = 0;
        if (type.equals("mistral") && root.hasNonNull("sliding_window")) {
            window = positive(root, "sliding_window", file);
        }
        double eps = number(root, "rms_norm_eps", 1e-6, file);
        double theta = number(root, "rope_theta", 10000, file);
        if (!(eps > 0) || !(theta > 1)) {
            throw new ModelFormatException(
                    file + ": rms_norm_eps must be > 0 and rope_theta > 1, got " + eps + ", " + theta);
        }
        Ids ids = ids(dir, root, file);
        return new DecoderConfig(
                type,
                hidden,
                positive(root, "num_hidden_layers", file),
                heads,
                kvHeads,
                headDim,
                positive(root, "intermediate_size", file),
                positive(root, "vocab_size", file),
                positive(root, "max_position_embeddings", file),
                eps,
                theta,
                RopeScaling.parse(root.get("rope_scaling"), file),
                root.path("tie_word_embeddings").asBoolean(false),
                qwen2 || attentionBias,
                !qwen2 && attentionBias,
                type.equals("qwen3"),
                window,
                ids.bos,
                ids.eos,
                root.path("torch_dtype").asText("float32"));
    }

    private record Ids(int bos, List<Integer> eos) {}

    /** bos and eos ids: generation_config.json where it has them, else config.json. */
    private static Ids ids(Path dir, JsonNode config, String file) {
        JsonNode gen = null;
        Path g = dir.resolve(GENERATION_FILE);
        if (Files.isRegularFile(g)) {
            gen = JsonFiles.readObject(g);
        }
        JsonNode bos =
                gen != null && gen.hasNonNull("bos_token_id") ? gen.get("bos_token_id") : config.get("bos_token_id");
        boolean eosInGen = gen != null && gen.hasNonNull("eos_token_id");
        JsonNode eos = eosInGen ? gen.get("eos_token_id") : config.get("eos_token_id");
        String eosFile = eosInGen ? g.toString() : file;
        List<Integer> eosIds = new ArrayList<>();
        if (eos != null && !eos.isNull()) {
            if (eos.isArray()) {
                eos.forEach(e -> eosIds.add(tokenId(e, "eos_token_id", eosFile)));
            } else {
                eosIds.add(tokenId(eos, "eos_token_id", eosFile));
            }
        }
        int b = bos == null || bos.isNull() ? -1 : tokenId(bos, "bos_token_id", file);
        return new Ids(b, eosIds);
    }

    private static int tokenId(JsonNode n, String key, String file) {
        if (!n.canConvertToInt() || n.asInt() < 0) {
            throw new ModelFormatException(file + ": " + key + " must be a token id (a non-negative integer or a list "
                    + "of them), got " + n);
        }
        return n.asInt();
    }

    private static int positive(JsonNode root, String key, String file) {
        JsonNode v = root.get(key);
        if (v == null || !v.canConvertToInt() || !v.isIntegralNumber() || v.asInt() < 1) {
            throw new ModelFormatException(file + ": " + key + " must be a positive integer, got " + v);
        }
        return v.asInt();
    }

    private static double number(JsonNode root, String key, double dflt, String file) {
        JsonNode v = root.get(key);
        if (v == null || v.isNull()) {
            return dflt;
        }
        if (!v.isNumber()) {
            throw new ModelFormatException(file + ": " + key + " must be a number, got " + v);
        }
        return v.asDouble();
    }
}

package dev.attune.model.llama;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.attune.kernels.precision.HalfFloats;
import dev.attune.model.llama.RandomDecoderCheckpoint.ModelType;
import dev.attune.model.llama.RandomDecoderCheckpoint.RopeScaling;
import dev.attune.model.safetensors.DType;
import dev.attune.model.safetensors.SafetensorsFile;
import dev.attune.model.safetensors.WeightStore;
import dev.attune.testing.decoder.TestTokenizers;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.UnaryOperator;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Random-weight decoder checkpoints: every model type with a real tokenizer, read back through
 * Attune's {@link WeightStore}; the HF config keys; dtype and shard variants of one spec holding the
 * same values; spec validation naming the field; and a large checkpoint written lazily.
 */
class RandomDecoderCheckpointTest {

    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path tmp;

    /** The tiny shape of the brief: hidden 64, 2 layers, 4 heads, 2 KV heads, head_dim 16, FFN 128. */
    static RandomDecoderCheckpoint.Builder tiny(ModelType type) {
        return RandomDecoderCheckpoint.builder(type)
                .hiddenSize(64)
                .numLayers(2)
                .numHeads(4)
                .numKvHeads(2)
                .headDim(16)
                .intermediateSize(128);
    }

    static Stream<Arguments> modelsWithTokenizers() {
        return Stream.of(
                Arguments.of("llama", "llama2", tiny(ModelType.LLAMA).build()),
                Arguments.of(
                        "mistral",
                        "llama2",
                        tiny(ModelType.MISTRAL)
                                .slidingWindow(8)
                                .dtype(DType.BF16)
                                .build()),
                Arguments.of(
                        "llama3",
                        "llama3",
                        tiny(ModelType.LLAMA)
                                .vocabSize(128256)
                                .bosTokenId(128000)
                                .eosTokenIds(128001, 128008, 128009)
                                .ropeTheta(500000)
                                .ropeScaling(RopeScaling.llama3(8, 1, 4, 8192))
                                .dtype(DType.BF16)
                                .build()),
                Arguments.of(
                        "qwen2",
                        "qwen3",
                        tiny(ModelType.QWEN2)
                                .vocabSize(151936)
                                .bosTokenId(151643)
                                .eosTokenIds(151645)
                                .tieWordEmbeddings(true)
                                .ropeTheta(1000000)
                                .rmsNormEps(1e-6)
                                .dtype(DType.BF16)
                                .build()),
                // head_dim 32 while hidden / heads = 16: Qwen3's head_dim is independent of the width.
                Arguments.of(
                        "qwen3",
                        "qwen3",
                        tiny(ModelType.QWEN3)
                                .headDim(32)
                                .vocabSize(151936)
                                .bosTokenId(151643)
                                .eosTokenIds(151645, 151643)
                                .tieWordEmbeddings(true)
                                .ropeTheta(1000000)
                                .rmsNormEps(1e-6)
                                .dtype(DType.BF16)
                                .shards(2)
                                .build()));
    }

    @ParameterizedTest(name = "{0} with the {1} tokenizer")
    @MethodSource("modelsWithTokenizers")
    void eachModelTypeReadsBackThroughTheWeightStore(String label, String tokenizer, RandomDecoderCheckpoint spec)
            throws IOException {
        Path dir = tmp.resolve(label);
        Path tok = TestTokenizers.dir(tokenizer);
        spec.write(dir, tok);

        WeightStore w = WeightStore.open(dir);
        Map<String, long[]> shapes = spec.tensorShapes();
        assertEquals(shapes.keySet(), w.names());
        assertEquals(expectedNames(spec), new TreeSet<>(w.names()));
        for (Map.Entry<String, long[]> e : shapes.entrySet()) {
            assertArrayEquals(e.getValue(), w.info(e.getKey()).shape(), e.getKey());
            assertEquals(spec.dtype(), w.info(e.getKey()).dtype(), e.getKey());
        }
        assertEquals(spec.dtype(), w.storedDtype());
        String q0 = "model.layers.0.self_attn.q_proj.weight";
        assertArrayEquals(
                new long[] {spec.numHeads() * spec.headDim(), spec.hiddenSize()},
                w.info(q0).shape());
        float[] q = w.floats(q0);
        float[] expected = spec.values(q0);
        for (int i = 0; i < q.length; i++) {
            assertEquals(round(expected[i], spec.dtype()), q[i], 0f);
        }

        // The tokenizer files are copied unchanged; the license and non-JSON files are not.
        for (String f : List.of("tokenizer.json", "tokenizer_config.json")) {
            assertArrayEquals(Files.readAllBytes(tok.resolve(f)), Files.readAllBytes(dir.resolve(f)), f);
        }
        assertFalse(Files.exists(dir.resolve("LICENSE")));
        assertTrue(spec.vocabSize() >= RandomDecoderCheckpoint.tokenizerVocabSize(dir.resolve("tokenizer.json")));

        JsonNode config = JSON.readTree(dir.resolve("config.json").toFile());
        assertEquals(spec.modelType().hfName(), config.get("model_type").asText());
        assertEquals(
                spec.modelType().architecture(),
                config.get("architectures").get(0).asText());
        assertEquals(spec.headDim(), config.get("head_dim").asInt());
        assertEquals(
                RandomDecoderCheckpoint.torchDtype(spec.dtype()),
                config.get("torch_dtype").asText());
        JsonNode gen = JSON.readTree(dir.resolve("generation_config.json").toFile());
        assertEquals(spec.bosTokenId(), gen.get("bos_token_id").asInt());
        assertEquals(config.get("eos_token_id"), gen.get("eos_token_id"));
        try (Stream<Path> files = Files.list(dir)) {
            assertTrue(files.noneMatch(p -> p.toString().endsWith(".tmp")), "no temporary files left");
        }
    }

    /** The tensor names written independently of {@link RandomDecoderCheckpoint#tensorShapes}. */
    private static Set<String> expectedNames(RandomDecoderCheckpoint spec) {
        Set<String> s = new TreeSet<>(List.of("model.embed_tokens.weight", "model.norm.weight"));
        if (!spec.tieWordEmbeddings()) {
            s.add("lm_head.weight");
        }
        for (int i = 0; i < spec.numLayers(); i++) {
            String p = "model.layers." + i + ".";
            for (String n : List.of(
                    "input_layernorm.weight",
                    "post_attention_layernorm.weight",
                    "self_attn.q_proj.weight",
                    "self_attn.k_proj.weight",
                    "self_attn.v_proj.weight",
                    "self_attn.o_proj.weight",
                    "mlp.gate_proj.weight",
                    "mlp.up_proj.weight",
                    "mlp.down_proj.weight")) {
                s.add(p + n);
            }
            if (spec.modelType() == ModelType.QWEN2) {
                s.addAll(
                        List.of(p + "self_attn.q_proj.bias", p + "self_attn.k_proj.bias", p + "self_attn.v_proj.bias"));
            }
            if (spec.modelType() == ModelType.QWEN3) {
                s.addAll(List.of(p + "self_attn.q_norm.weight", p + "self_attn.k_norm.weight"));
            }
        }
        return s;
    }

    private static float round(float v, DType d) {
        return switch (d) {
            case F32 -> v;
            case F16 -> HalfFloats.roundToFp16(v);
            case BF16 -> HalfFloats.roundToBf16(v);
        };
    }

    @Test
    void configJsonHasTheHuggingFaceKeysOfEachType() throws IOException {
        Set<String> common = Set.of(
                "architectures",
                "attention_dropout",
                "bos_token_id",
                "eos_token_id",
                "head_dim",
                "hidden_act",
                "hidden_size",
                "initializer_range",
                "intermediate_size",
                "max_position_embeddings",
                "model_type",
                "num_attention_heads",
                "num_hidden_layers",
                "num_key_value_heads",
                "rms_norm_eps",
                "rope_theta",
                "tie_word_embeddings",
                "torch_dtype",
                "transformers_version",
                "use_cache",
                "vocab_size");
        Map<ModelType, Set<String>> extra = Map.of(
                ModelType.LLAMA, Set.of("attention_bias", "mlp_bias", "pretraining_tp", "rope_scaling"),
                ModelType.MISTRAL, Set.of("sliding_window"),
                ModelType.QWEN2, Set.of("max_window_layers", "rope_scaling", "sliding_window", "use_sliding_window"),
                ModelType.QWEN3,
                        Set.of(
                                "attention_bias",
                                "max_window_layers",
                                "rope_scaling",
                                "sliding_window",
                                "use_sliding_window"));
        for (ModelType t : ModelType.values()) {
            RandomDecoderCheckpoint spec = tiny(t).build();
            Path dir = tmp.resolve(t.hfName());
            spec.write(dir);
            JsonNode c = JSON.readTree(dir.resolve("config.json").toFile());
            Set<String> keys = new HashSet<>();
            c.fieldNames().forEachRemaining(keys::add);
            Set<String> want = new HashSet<>(common);
            want.addAll(extra.get(t));
            assertEquals(new TreeSet<>(want), new TreeSet<>(keys), t.hfName());
            List<String> sorted = new ArrayList<>(new TreeSet<>(keys));
            List<String> written = new ArrayList<>();
            c.fieldNames().forEachRemaining(written::add);
            assertEquals(sorted, written, "keys sorted as transformers' to_json_string writes them");
            assertEquals("silu", c.get("hidden_act").asText());
            assertEquals(64, c.get("hidden_size").asInt());
            assertEquals(128, c.get("intermediate_size").asInt());
            assertEquals(4, c.get("num_attention_heads").asInt());
            assertEquals(2, c.get("num_key_value_heads").asInt());
            assertEquals(2, c.get("num_hidden_layers").asInt());
            assertEquals(16, c.get("head_dim").asInt());
            assertEquals(1e-5, c.get("rms_norm_eps").asDouble());
            assertEquals(10000.0, c.get("rope_theta").asDouble());
            assertEquals(2048, c.get("max_position_embeddings").asInt());
            assertEquals(32000, c.get("vocab_size").asInt());
            assertEquals(1, c.get("bos_token_id").asInt());
            assertTrue(c.get("eos_token_id").isInt(), "a single eos id is a number");
            assertEquals("float32", c.get("torch_dtype").asText());
            assertFalse(c.get("tie_word_embeddings").asBoolean());
            if (c.has("rope_scaling")) {
                assertTrue(c.get("rope_scaling").isNull());
            }
            if (c.has("attention_bias")) {
                assertFalse(c.get("attention_bias").asBoolean());
            }
        }
        assertTrue(JSON.readTree(tmp.resolve("mistral/config.json").toFile())
                .get("sliding_window")
                .isNull());

        Path m = tmp.resolve("mistral-window");
        tiny(ModelType.MISTRAL)
                .slidingWindow(4096)
                .eosTokenIds(2, 0)
                .dtype(DType.F16)
                .build()
                .write(m);
        JsonNode mc = JSON.readTree(m.resolve("config.json").toFile());
        assertEquals(4096, mc.get("sliding_window").asInt());
        assertEquals("[2,0]", mc.get("eos_token_id").toString());
        assertEquals("float16", mc.get("torch_dtype").asText());

        Path l3 = tmp.resolve("llama3");
        tiny(ModelType.LLAMA)
                .ropeScaling(RopeScaling.llama3(8, 1, 4, 8192))
                .dtype(DType.BF16)
                .build()
                .write(l3);
        JsonNode rs = JSON.readTree(l3.resolve("config.json").toFile()).get("rope_scaling");
        assertEquals("llama3", rs.get("rope_type").asText());
        assertEquals("llama3", rs.get("type").asText());
        assertEquals(8.0, rs.get("factor").asDouble());
        assertEquals(1.0, rs.get("low_freq_factor").asDouble());
        assertEquals(4.0, rs.get("high_freq_factor").asDouble());
        assertEquals(8192, rs.get("original_max_position_embeddings").asInt());
        assertEquals(
                "bfloat16",
                JSON.readTree(l3.resolve("config.json").toFile())
                        .get("torch_dtype")
                        .asText());

        Path lin = tmp.resolve("linear");
        tiny(ModelType.QWEN2).ropeScaling(RopeScaling.linear(2)).build().write(lin);
        JsonNode ls = JSON.readTree(lin.resolve("config.json").toFile()).get("rope_scaling");
        assertEquals("{\"factor\":2.0,\"rope_type\":\"linear\",\"type\":\"linear\"}", ls.toString());
    }

    @Test
    void dtypeCopiesOfOneSpecHoldTheSameValuesWithinRounding() throws IOException {
        RandomDecoderCheckpoint f32 = tiny(ModelType.QWEN2).vocabSize(2000).build();
        Map<DType, WeightStore> stores = new java.util.EnumMap<>(DType.class);
        for (DType d : DType.values()) {
            Path dir = tmp.resolve(d.name());
            f32.toBuilder().dtype(d).build().write(dir);
            stores.put(d, WeightStore.open(dir));
        }
        int checked = 0;
        for (String name : f32.tensorShapes().keySet()) {
            float[] a = stores.get(DType.F32).floats(name);
            float[] b = stores.get(DType.BF16).floats(name);
            float[] h = stores.get(DType.F16).floats(name);
            for (int i = 0; i < a.length; i++) {
                // Half an ulp of the format, relative: bf16 keeps 8 significant bits, fp16 11.
                int at = i;
                assertTrue(
                        Math.abs(b[i] - a[i]) <= Math.abs(a[i]) * 0x1p-8,
                        () -> name + "[" + at + "] bf16 " + b[at] + " vs " + a[at]);
                assertTrue(
                        Math.abs(h[i] - a[i]) <= Math.abs(a[i]) * 0x1p-11 + 0x1p-25,
                        () -> name + "[" + at + "] fp16 " + h[at] + " vs " + a[at]);
                assertEquals(HalfFloats.roundToBf16(a[i]), b[i], 0f);
                assertEquals(HalfFloats.roundToFp16(a[i]), h[i], 0f);
                checked++;
            }
            assertFalse(java.util.Arrays.equals(a, b), name + ": bf16 rounding changes something");
        }
        assertEquals(f32.parameterCount(), checked);
    }

    @Test
    void threeShardsHoldTheSameTensorsAsOneFile() throws IOException {
        RandomDecoderCheckpoint one =
                tiny(ModelType.QWEN3).tieWordEmbeddings(false).dtype(DType.BF16).build();
        RandomDecoderCheckpoint three = one.toBuilder().shards(3).build();
        Path single = tmp.resolve("single");
        Path sharded = tmp.resolve("sharded");
        one.write(single);
        three.write(sharded);
        assertFalse(Files.exists(sharded.resolve(WeightStore.SINGLE_FILE)));
        assertFalse(Files.exists(single.resolve(WeightStore.INDEX_FILE)));

        JsonNode index = JSON.readTree(sharded.resolve(WeightStore.INDEX_FILE).toFile());
        Set<String> shardFiles = new TreeSet<>();
        long bytes = 0;
        List<String> mapped = new ArrayList<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = index.get("weight_map").fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            mapped.add(e.getKey());
            shardFiles.add(e.getValue().asText());
        }
        assertEquals(
                Set.of(
                        "model-00001-of-00003.safetensors",
                        "model-00002-of-00003.safetensors",
                        "model-00003-of-00003.safetensors"),
                shardFiles);
        for (String f : shardFiles) {
            SafetensorsFile s = SafetensorsFile.open(sharded.resolve(f));
            assertFalse(s.tensors().isEmpty(), f);
            for (var t : s.tensors().values()) {
                bytes += t.byteLength();
                assertEquals(f, index.get("weight_map").get(t.name()).asText(), t.name());
            }
        }
        assertEquals(bytes, index.get("metadata").get("total_size").asLong());
        assertEquals(new ArrayList<>(new TreeSet<>(mapped)), mapped, "weight_map sorted, as HF writes it");

        WeightStore a = WeightStore.open(single);
        WeightStore b = WeightStore.open(sharded);
        assertEquals(new TreeSet<>(a.names()), new TreeSet<>(b.names()));
        for (String n : a.names()) {
            assertArrayEquals(a.floats(n), b.floats(n), n);
        }
        // Shards are a storage detail: the config is the same.
        assertArrayEquals(
                Files.readAllBytes(single.resolve("config.json")), Files.readAllBytes(sharded.resolve("config.json")));
    }

    @Test
    void valuesDependOnSeedAndTensorNameOnly() throws IOException {
        RandomDecoderCheckpoint two = tiny(ModelType.LLAMA).seed(7).build();
        RandomDecoderCheckpoint three =
                two.toBuilder().numLayers(3).vocabSize(1000).build();
        String k = "model.layers.1.self_attn.k_proj.weight";
        assertArrayEquals(two.values(k), three.values(k), "a tensor's values do not depend on the other tensors");
        assertArrayEquals(two.values(k), two.values(k));
        assertFalse(java.util.Arrays.equals(
                two.values(k), two.toBuilder().seed(8).build().values(k)));
        assertFalse(java.util.Arrays.equals(two.values(k), two.values("model.layers.0.self_attn.k_proj.weight")));

        // Matrices are N(0, initStd^2), norms 1 + N(0, normStd^2).
        double[] m = moments(three.values("model.embed_tokens.weight"));
        assertEquals(0, m[0], 0.002);
        assertEquals(1 / Math.sqrt(64), m[1], 0.002);
        double[] n = moments(three.values("model.layers.2.input_layernorm.weight"));
        assertEquals(1, n[0], 0.05);
        assertEquals(0.1, n[1], 0.04);

        Path a = tmp.resolve("a");
        Path b = tmp.resolve("b");
        two.write(a);
        two.write(b);
        assertArrayEquals(
                Files.readAllBytes(a.resolve("model.safetensors")),
                Files.readAllBytes(b.resolve("model.safetensors")),
                "the same spec writes the same bytes");
    }

    private static double[] moments(float[] x) {
        double s = 0;
        double ss = 0;
        for (float v : x) {
            s += v;
            ss += (double) v * v;
        }
        double mean = s / x.length;
        return new double[] {mean, Math.sqrt(ss / x.length - mean * mean)};
    }

    static Stream<Arguments> badSpecs() {
        return Stream.of(
                Arguments.of("numKvHeads", (UnaryOperator<RandomDecoderCheckpoint.Builder>) b -> b.numKvHeads(3)),
                Arguments.of("numKvHeads", (UnaryOperator<RandomDecoderCheckpoint.Builder>) b -> b.numKvHeads(0)),
                Arguments.of("hiddenSize", (UnaryOperator<RandomDecoderCheckpoint.Builder>) b -> b.hiddenSize(-64)),
                Arguments.of("numLayers", (UnaryOperator<RandomDecoderCheckpoint.Builder>) b -> b.numLayers(0)),
                Arguments.of("intermediateSize", (UnaryOperator<RandomDecoderCheckpoint.Builder>)
                        b -> b.intermediateSize(0)),
                Arguments.of("vocabSize", (UnaryOperator<RandomDecoderCheckpoint.Builder>) b -> b.vocabSize(0)),
                Arguments.of("headDim", (UnaryOperator<RandomDecoderCheckpoint.Builder>) b -> b.headDim(15)),
                Arguments.of("headDim", (UnaryOperator<RandomDecoderCheckpoint.Builder>) b -> b.headDim(0)),
                Arguments.of("headDim", (UnaryOperator<RandomDecoderCheckpoint.Builder>)
                        b -> RandomDecoderCheckpoint.builder(ModelType.QWEN3)),
                Arguments.of("headDim", (UnaryOperator<RandomDecoderCheckpoint.Builder>)
                        b -> RandomDecoderCheckpoint.builder(ModelType.LLAMA)
                                .hiddenSize(60)
                                .numHeads(8)
                                .numKvHeads(8)),
                Arguments.of(
                        "slidingWindow", (UnaryOperator<RandomDecoderCheckpoint.Builder>) b -> b.slidingWindow(16)),
                Arguments.of("slidingWindow", (UnaryOperator<RandomDecoderCheckpoint.Builder>)
                        b -> b.modelType(ModelType.MISTRAL).slidingWindow(0)),
                Arguments.of("bosTokenId", (UnaryOperator<RandomDecoderCheckpoint.Builder>) b -> b.bosTokenId(32000)),
                Arguments.of("eosTokenIds", (UnaryOperator<RandomDecoderCheckpoint.Builder>) b -> b.eosTokenIds(2, -1)),
                Arguments.of("eosTokenIds", (UnaryOperator<RandomDecoderCheckpoint.Builder>) b -> b.eosTokenIds()),
                Arguments.of("ropeTheta", (UnaryOperator<RandomDecoderCheckpoint.Builder>) b -> b.ropeTheta(0)),
                Arguments.of("ropeScaling", (UnaryOperator<RandomDecoderCheckpoint.Builder>)
                        b -> b.ropeScaling(RopeScaling.linear(0))),
                Arguments.of("ropeScaling", (UnaryOperator<RandomDecoderCheckpoint.Builder>)
                        b -> b.ropeScaling(RopeScaling.llama3(8, 4, 1, 8192))),
                Arguments.of("rmsNormEps", (UnaryOperator<RandomDecoderCheckpoint.Builder>) b -> b.rmsNormEps(0)),
                Arguments.of("initStd", (UnaryOperator<RandomDecoderCheckpoint.Builder>) b -> b.initStd(Double.NaN)),
                Arguments.of("normStd", (UnaryOperator<RandomDecoderCheckpoint.Builder>) b -> b.normStd(-1)),
                Arguments.of("shards", (UnaryOperator<RandomDecoderCheckpoint.Builder>) b -> b.shards(0)),
                Arguments.of("shards", (UnaryOperator<RandomDecoderCheckpoint.Builder>) b -> b.shards(100)));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("badSpecs")
    void aBadSpecIsRefusedNamingTheField(String field, UnaryOperator<RandomDecoderCheckpoint.Builder> change) {
        IllegalArgumentException e = assertThrows(
                IllegalArgumentException.class,
                () -> change.apply(tiny(ModelType.LLAMA)).build());
        assertTrue(e.getMessage().startsWith(field + ":"), e.getMessage());
    }

    @Test
    void aVocabularySmallerThanTheTokenizersIsRefusedBeforeWriting() throws IOException {
        assertEquals(
                32000,
                RandomDecoderCheckpoint.tokenizerVocabSize(
                        TestTokenizers.dir("llama2").resolve("tokenizer.json")));
        assertEquals(
                128256,
                RandomDecoderCheckpoint.tokenizerVocabSize(
                        TestTokenizers.dir("llama3").resolve("tokenizer.json")));
        assertEquals(
                151669,
                RandomDecoderCheckpoint.tokenizerVocabSize(
                        TestTokenizers.dir("qwen3").resolve("tokenizer.json")));
        RandomDecoderCheckpoint small = tiny(ModelType.QWEN3).vocabSize(151643).build();
        Path dir = tmp.resolve("small");
        IllegalArgumentException e =
                assertThrows(IllegalArgumentException.class, () -> small.write(dir, TestTokenizers.dir("qwen3")));
        assertTrue(e.getMessage().startsWith("vocabSize:") && e.getMessage().contains("151669"), e.getMessage());
        assertFalse(Files.exists(dir), "nothing written");
        assertThrows(IllegalArgumentException.class, () -> small.write(dir, tmp));
    }

    @Test
    void tinyLlamaShapeHasTinyLlamasParameterCount() {
        RandomDecoderCheckpoint t = RandomDecoderCheckpoint.tinyLlamaShape();
        // TinyLlama-1.1B's published parameter count.
        assertEquals(1_100_048_384L, t.parameterCount());
        assertEquals(DType.BF16, t.dtype());
        assertEquals(22 * 9 + 3, t.tensorShapes().size());
        assertArrayEquals(new long[] {256, 2048}, t.tensorShapes().get("model.layers.21.self_attn.k_proj.weight"));
        assertArrayEquals(new long[] {5632, 2048}, t.tensorShapes().get("model.layers.0.mlp.up_proj.weight"));
        assertArrayEquals(new long[] {2048, 5632}, t.tensorShapes().get("model.layers.0.mlp.down_proj.weight"));
        assertArrayEquals(new long[] {32000, 2048}, t.tensorShapes().get("lm_head.weight"));
        JsonNode c = t.configJson();
        assertEquals(2048, c.get("hidden_size").asInt());
        assertEquals(22, c.get("num_hidden_layers").asInt());
        assertEquals(32, c.get("num_attention_heads").asInt());
        assertEquals(4, c.get("num_key_value_heads").asInt());
        assertEquals(64, c.get("head_dim").asInt());
        assertEquals(5632, c.get("intermediate_size").asInt());
        assertEquals(32000, c.get("vocab_size").asInt());
        assertEquals(10000.0, c.get("rope_theta").asDouble());
        assertEquals(1e-5, c.get("rms_norm_eps").asDouble());
        assertEquals("bfloat16", c.get("torch_dtype").asText());
        assertFalse(c.get("tie_word_embeddings").asBoolean());
    }

    @Test
    void aLargeCheckpointIsWrittenOneTensorAtATime() throws IOException {
        // About 56M parameters, 112 MB in BF16: its fp32 values (225 MB) are never all in memory at once.
        RandomDecoderCheckpoint big = RandomDecoderCheckpoint.builder(ModelType.LLAMA)
                .hiddenSize(512)
                .numLayers(8)
                .numHeads(8)
                .numKvHeads(2)
                .headDim(64)
                .intermediateSize(1408)
                .vocabSize(32000)
                .dtype(DType.BF16)
                .shards(2)
                .build();
        Path dir = tmp.resolve("big");
        long start = System.nanoTime();
        big.write(dir, TestTokenizers.dir("llama2"));
        long ms = (System.nanoTime() - start) / 1_000_000;
        System.out.println("wrote " + big.parameterCount() + " parameters in " + ms + " ms");
        WeightStore w = WeightStore.open(dir);
        long bytes = 0;
        for (String n : w.names()) {
            bytes += w.info(n).byteLength();
        }
        assertEquals(big.parameterCount() * 2, bytes);
        assertTrue(big.parameterCount() > 50_000_000L);
        String last = "model.layers.7.mlp.down_proj.weight";
        float[] got = w.floats(last);
        float[] want = big.values(last);
        for (int i = 0; i < got.length; i += 997) {
            assertEquals(HalfFloats.roundToBf16(want[i]), got[i], 0f);
        }
        assertNotEquals(0f, got[got.length - 1]);
    }
}

package dev.attune.testing.decoder;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.attune.model.llama.RandomDecoderCheckpoint;
import dev.attune.model.llama.RandomDecoderCheckpoint.ModelType;
import dev.attune.model.llama.RandomDecoderCheckpoint.RopeScaling;
import dev.attune.model.safetensors.DType;
import dev.attune.model.safetensors.SafetensorsWriter;
import dev.attune.model.safetensors.WeightStore;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.BiFunction;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Properties of {@link DecoderReference} that fail if its math is wrong: probabilities, causality,
 * GQA against replicated KV heads, RoPE (the halves convention, relative positions, scaling),
 * Mistral's window, Qwen3's per-head q/k norm, its safetensors reader against Attune's, and a
 * one-layer case computed by hand.
 */
class DecoderReferenceTest {

    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path tmp;

    private static RandomDecoderCheckpoint.Builder tiny(ModelType type) {
        return RandomDecoderCheckpoint.builder(type)
                .hiddenSize(64)
                .numLayers(2)
                .numHeads(4)
                .numKvHeads(2)
                .headDim(16)
                .intermediateSize(128)
                .vocabSize(500)
                .seed(11);
    }

    private Path write(String name, RandomDecoderCheckpoint spec) throws IOException {
        Path dir = tmp.resolve(name);
        spec.write(dir);
        return dir;
    }

    /**
     * Writes {@code configSpec}'s config.json with the tensors of {@code valueSpec}, each passed
     * through {@code change} (name, values) -> values, in F32.
     */
    private Path writeChanged(
            String name,
            RandomDecoderCheckpoint configSpec,
            RandomDecoderCheckpoint valueSpec,
            BiFunction<String, float[], float[]> change)
            throws IOException {
        Path dir = tmp.resolve(name);
        Files.createDirectories(dir);
        SafetensorsWriter w = new SafetensorsWriter(DType.F32);
        for (Map.Entry<String, long[]> e : configSpec.tensorShapes().entrySet()) {
            w.add(e.getKey(), e.getValue(), change.apply(e.getKey(), valueSpec.values(e.getKey())));
        }
        w.write(dir.resolve(WeightStore.SINGLE_FILE));
        Files.write(dir.resolve("config.json"), JSON.writeValueAsBytes(configSpec.configJson()));
        return dir;
    }

    private static int[] ids(int n, int vocab, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        int[] ids = new int[n];
        for (int i = 0; i < n; i++) {
            ids[i] = r.nextInt(vocab);
        }
        return ids;
    }

    private static void assertClose(double[][] a, double[][] b, double tol) {
        assertEquals(a.length, b.length);
        for (int t = 0; t < a.length; t++) {
            for (int v = 0; v < a[t].length; v++) {
                if (Math.abs(a[t][v] - b[t][v]) > tol) {
                    throw new AssertionError("logits[" + t + "][" + v + "]: " + a[t][v] + " vs " + b[t][v]);
                }
            }
        }
    }

    private static double maxDiff(double[] a, double[] b) {
        double m = 0;
        for (int i = 0; i < a.length; i++) {
            m = Math.max(m, Math.abs(a[i] - b[i]));
        }
        return m;
    }

    // ---------------------------------------------------------------------------------------------

    @Test
    void logProbabilitiesAreProbabilitiesAndLogitsAreNotDegenerate() throws IOException {
        DecoderReference ref =
                DecoderReference.load(write("llama", tiny(ModelType.LLAMA).build()));
        int[] ids = ids(12, 500, 1);
        double[][] logits = ref.logits(ids);
        assertEquals(12, logits.length);
        assertEquals(500, logits[0].length);
        for (double[] row : logits) {
            double[] lp = DecoderReference.logSoftmax(row);
            double sum = 0;
            double min = Double.POSITIVE_INFINITY;
            double max = Double.NEGATIVE_INFINITY;
            for (int v = 0; v < lp.length; v++) {
                assertTrue(lp[v] <= 0, "log-prob " + lp[v]);
                sum += Math.exp(lp[v]);
                min = Math.min(min, row[v]);
                max = Math.max(max, row[v]);
            }
            assertEquals(1, sum, 1e-12);
            // Random weights of std 1/sqrt(hidden) keep logits spread, neither flat nor saturated.
            assertTrue(max - min > 1 && max - min < 100, "logit range " + (max - min));
        }
        double[] tlp = ref.tokenLogprobs(ids);
        assertTrue(Double.isNaN(tlp[0]));
        for (int t = 1; t < ids.length; t++) {
            assertEquals(DecoderReference.logSoftmax(logits[t - 1])[ids[t]], tlp[t], 0);
            assertTrue(tlp[t] < 0);
        }
        double[] from5 = ref.tokenLogprobs(ids, 5);
        for (int t = 0; t < ids.length; t++) {
            if (t < 5) {
                assertTrue(Double.isNaN(from5[t]));
            } else {
                assertEquals(tlp[t], from5[t], 0);
            }
        }
    }

    @Test
    void appendingTokensLeavesThePrefixUnchanged() throws IOException {
        for (ModelType type : ModelType.values()) {
            RandomDecoderCheckpoint spec =
                    tiny(type).headDim(type == ModelType.QWEN3 ? 24 : 16).build();
            DecoderReference ref = DecoderReference.load(write(type.hfName(), spec));
            int[] ids = ids(10, 500, 2);
            double[] full = ref.tokenLogprobs(ids);
            double[] prefix = ref.tokenLogprobs(java.util.Arrays.copyOf(ids, 6));
            for (int t = 1; t < 6; t++) {
                assertEquals(prefix[t], full[t], 1e-12, type + " t=" + t);
            }
            // And a later token does depend on earlier ones: change token 2, token 8's log-prob moves.
            int[] other = ids.clone();
            other[2] = (other[2] + 1) % 500;
            assertTrue(Math.abs(ref.tokenLogprobs(other)[8] - full[8]) > 1e-6, type + ": attention reads the past");
        }
    }

    @Test
    void groupedQueryAttentionEqualsFullAttentionWithReplicatedKvHeads() throws IOException {
        RandomDecoderCheckpoint gqa =
                tiny(ModelType.QWEN2).numHeads(6).numKvHeads(2).headDim(8).build();
        RandomDecoderCheckpoint mha = gqa.toBuilder().numKvHeads(6).build();
        int d = gqa.headDim();
        int hidden = gqa.hiddenSize();
        int group = gqa.numHeads() / gqa.numKvHeads();
        // MHA's KV head j is GQA's KV head j / group: rows [j*d, (j+1)*d) of k/v (and of their biases).
        Path mhaDir = writeChanged("mha", mha, gqa, (name, v) -> {
            boolean kv = name.contains("k_proj") || name.contains("v_proj");
            if (!kv) {
                return v;
            }
            int cols = name.endsWith(".bias") ? 1 : hidden;
            float[] out = new float[mha.numKvHeads() * d * cols];
            for (int j = 0; j < mha.numKvHeads(); j++) {
                System.arraycopy(v, (j / group) * d * cols, out, j * d * cols, d * cols);
            }
            return out;
        });
        DecoderReference a = DecoderReference.load(write("gqa", gqa));
        DecoderReference b = DecoderReference.load(mhaDir);
        assertEquals(2, a.config().kvHeads());
        assertEquals(6, b.config().kvHeads());
        int[] ids = ids(9, 500, 3);
        assertClose(a.logits(ids), b.logits(ids), 1e-12);

        // Replicating in the wrong order (head j from j % kv_heads) is a different model.
        Path wrong = writeChanged("wrong", mha, gqa, (name, v) -> {
            if (!(name.contains("k_proj") || name.contains("v_proj"))) {
                return v;
            }
            int cols = name.endsWith(".bias") ? 1 : hidden;
            float[] out = new float[mha.numKvHeads() * d * cols];
            for (int j = 0; j < mha.numKvHeads(); j++) {
                System.arraycopy(v, (j % gqa.numKvHeads()) * d * cols, out, j * d * cols, d * cols);
            }
            return out;
        });
        assertTrue(maxDiff(a.logits(ids)[8], DecoderReference.load(wrong).logits(ids)[8]) > 1e-6);
    }

    @Test
    void ropeRotatesHalvesAsComplexPairs() {
        int d = 16;
        double[] f = DecoderReference.invFreq(d, 10000, null);
        assertEquals(1.0, f[0], 0);
        assertEquals(Math.pow(10000, -14.0 / 16), f[7], 1e-15);
        SplittableRandom r = new SplittableRandom(5);
        double[] x = new double[d];
        for (int i = 0; i < d; i++) {
            x[i] = r.nextDouble() - 0.5;
        }
        double pos = 7;
        double[] y = x.clone();
        DecoderReference.rope(y, 0, d, pos, f);
        // HF pairs element i with element i + d/2 (not 2i with 2i+1): z_i = x_i + j x_{i+d/2}, times e^{j pos f_i}.
        for (int i = 0; i < d / 2; i++) {
            double re = x[i];
            double im = x[i + d / 2];
            double c = Math.cos(pos * f[i]);
            double s = Math.sin(pos * f[i]);
            assertEquals(re * c - im * s, y[i], 1e-15);
            assertEquals(re * s + im * c, y[i + d / 2], 1e-15);
        }
        // The rotation keeps the norm and makes q.k depend on the relative position only.
        double[] k = new double[d];
        for (int i = 0; i < d; i++) {
            k[i] = r.nextDouble() - 0.5;
        }
        assertEquals(dot(rot(x, 5, f), rot(k, 2, f)), dot(rot(x, 1005, f), rot(k, 1002, f)), 1e-12);
        assertFalse(Math.abs(dot(rot(x, 5, f), rot(k, 2, f)) - dot(rot(x, 5, f), rot(k, 3, f))) < 1e-6);
        assertEquals(dot(x, x), dot(y, y), 1e-14);
    }

    private static double[] rot(double[] x, double pos, double[] f) {
        double[] y = x.clone();
        DecoderReference.rope(y, 0, y.length, pos, f);
        return y;
    }

    private static double dot(double[] a, double[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) {
            s += a[i] * b[i];
        }
        return s;
    }

    @Test
    void shiftingEveryPositionLeavesTheLogitsUnchanged() throws IOException {
        DecoderReference ref =
                DecoderReference.load(write("mistral", tiny(ModelType.MISTRAL).build()));
        int[] ids = ids(8, 500, 4);
        // RoPE: attention sees only relative positions, so a constant shift changes nothing.
        assertClose(ref.logits(ids, 0), ref.logits(ids, 321), 1e-9);
        // ... while a different theta changes the model.
        DecoderReference theta = DecoderReference.load(
                write("theta", tiny(ModelType.MISTRAL).ropeTheta(100).build()));
        assertTrue(maxDiff(ref.logits(ids)[7], theta.logits(ids)[7]) > 1e-6);
    }

    @Test
    void ropeScalingFollowsHuggingFace() throws IOException {
        int d = 64;
        double theta = 500000;
        double[] plain = DecoderReference.invFreq(d, theta, null);
        assertArrayEquals(plain, DecoderReference.invFreq(d, theta, JSON.readTree("{\"rope_type\": \"default\"}")), 0);
        double[] linear = DecoderReference.invFreq(d, theta, JSON.readTree("{\"type\": \"linear\", \"factor\": 4}"));
        for (int i = 0; i < d / 2; i++) {
            assertEquals(plain[i] / 4, linear[i], 1e-18);
        }
        // llama3 with factor 1 and equal bands is no scaling.
        double[] same = DecoderReference.invFreq(
                d,
                theta,
                JSON.readTree(
                        "{\"rope_type\": \"llama3\", \"factor\": 1, \"low_freq_factor\": 2, \"high_freq_factor\": 2, "
                                + "\"original_max_position_embeddings\": 64}"));
        assertArrayEquals(plain, same, 1e-18);
        // Llama 3.1's values: wavelengths under 8192/4 keep their frequency, over 8192/1 are divided
        // by 8, and those between are interpolated, so the result is monotone in between.
        double[] l3 = DecoderReference.invFreq(
                d,
                theta,
                JSON.readTree(
                        "{\"rope_type\": \"llama3\", \"factor\": 8, \"low_freq_factor\": 1, \"high_freq_factor\": 4, "
                                + "\"original_max_position_embeddings\": 8192}"));
        int high = 0;
        int low = 0;
        int mid = 0;
        for (int i = 0; i < d / 2; i++) {
            double wavelen = 2 * Math.PI / plain[i];
            if (wavelen < 2048) {
                assertEquals(plain[i], l3[i], 0);
                high++;
            } else if (wavelen > 8192) {
                assertEquals(plain[i] / 8, l3[i], 1e-18);
                low++;
            } else {
                double smooth = (8192 / wavelen - 1) / 3;
                assertEquals((1 - smooth) * plain[i] / 8 + smooth * plain[i], l3[i], 1e-18);
                assertTrue(l3[i] < plain[i] && l3[i] > plain[i] / 8);
                mid++;
            }
        }
        assertTrue(high > 0 && low > 0 && mid > 0, high + " " + mid + " " + low);
        assertThrows(
                IllegalArgumentException.class,
                () -> DecoderReference.invFreq(d, theta, JSON.readTree("{\"rope_type\": \"yarn\", \"factor\": 2}")));

        // Through config.json: llama3 scaling with factor 1 gives the unscaled model, factor 8 does not.
        RandomDecoderCheckpoint base = tiny(ModelType.LLAMA)
                .headDim(32)
                .numHeads(2)
                .numKvHeads(1)
                .ropeTheta(500000)
                .build();
        int[] ids = ids(10, 500, 6);
        double[][] none = DecoderReference.load(write("none", base)).logits(ids);
        double[][] unit = DecoderReference.load(write(
                        "unit",
                        base.toBuilder()
                                .ropeScaling(RopeScaling.llama3(1, 1, 1, 16))
                                .build()))
                .logits(ids);
        assertClose(none, unit, 1e-12);
        double[][] eight = DecoderReference.load(write(
                        "eight",
                        base.toBuilder()
                                .ropeScaling(RopeScaling.llama3(8, 1, 4, 16))
                                .build()))
                .logits(ids);
        assertTrue(maxDiff(none[9], eight[9]) > 1e-6);
        Path yarn = write("yarn", base);
        ObjectNode c = (ObjectNode) JSON.readTree(yarn.resolve("config.json").toFile());
        c.putObject("rope_scaling").put("rope_type", "yarn").put("factor", 2.0);
        Files.write(yarn.resolve("config.json"), JSON.writeValueAsBytes(c));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> DecoderReference.load(yarn));
        assertTrue(e.getMessage().contains("yarn"), e.getMessage());
    }

    @Test
    void slidingWindowLimitsAttentionToTheLastWTokens() throws IOException {
        RandomDecoderCheckpoint spec = tiny(ModelType.MISTRAL).build();
        int[] ids = ids(10, 500, 7);
        double[][] none = DecoderReference.load(write("none", spec)).logits(ids);
        double[][] wide = DecoderReference.load(
                        write("wide", spec.toBuilder().slidingWindow(10).build()))
                .logits(ids);
        assertClose(none, wide, 0);
        double[][] three = DecoderReference.load(
                        write("three", spec.toBuilder().slidingWindow(3).build()))
                .logits(ids);
        assertClose(slice(none, 0, 3), slice(three, 0, 3), 0); // the first W positions see everything anyway
        assertTrue(maxDiff(none[9], three[9]) > 1e-6);
        // W = 1: each token attends to itself only, so its logits depend on its own id and position.
        DecoderReference one = DecoderReference.load(
                write("one", spec.toBuilder().slidingWindow(1).build()));
        int[] other = ids.clone();
        for (int t = 0; t < 9; t++) {
            other[t] = (ids[t] + 17) % 500;
        }
        assertClose(slice(one.logits(ids), 9, 10), slice(one.logits(other), 9, 10), 1e-12);
        // With a window of 3, token 4 no longer reaches token 9; token 5 still does.
        DecoderReference w3 = DecoderReference.load(
                write("three-again", spec.toBuilder().slidingWindow(3).build()));
        // Two layers: token 9 reads positions 7..9 in layer 2, and those read tokens 5..9 in layer 1.
        int[] early = ids.clone();
        early[4] = (ids[4] + 1) % 500;
        assertClose(slice(w3.logits(ids), 9, 10), slice(w3.logits(early), 9, 10), 1e-12);
        int[] late = ids.clone();
        late[5] = (ids[5] + 1) % 500;
        assertTrue(maxDiff(w3.logits(ids)[9], w3.logits(late)[9]) > 1e-9);
    }

    private static double[][] slice(double[][] x, int from, int to) {
        return java.util.Arrays.copyOfRange(x, from, to);
    }

    @Test
    void qwen3NormalisesEachHeadOfQAndKBeforeRope() throws IOException {
        // Tiny eps so that scaling a head is invisible to the per-head RMSNorm up to rounding.
        RandomDecoderCheckpoint q3 = tiny(ModelType.QWEN3).rmsNormEps(1e-12).build();
        int d = q3.headDim();
        int hidden = q3.hiddenSize();
        BiFunction<String, float[], float[]> scaleOneHead = (name, v) -> {
            float[] out = v.clone();
            // Query head 1 times 4 and KV head 0 times 1/4 (rows of the (out, in) weights); powers
            // of two, so the fp32 weights are scaled exactly.
            if (name.endsWith("q_proj.weight")) {
                for (int i = d * hidden; i < 2 * d * hidden; i++) {
                    out[i] *= 4;
                }
            } else if (name.endsWith("k_proj.weight")) {
                for (int i = 0; i < d * hidden; i++) {
                    out[i] *= 0.25f;
                }
            }
            return out;
        };
        BiFunction<String, float[], float[]> unitNorms = (name, v) -> {
            if (name.endsWith("q_norm.weight") || name.endsWith("k_norm.weight")) {
                float[] ones = new float[v.length];
                java.util.Arrays.fill(ones, 1);
                return ones;
            }
            return v;
        };
        int[] ids = ids(8, 500, 8);
        double[][] base =
                DecoderReference.load(writeChanged("unit", q3, q3, unitNorms)).logits(ids);
        double[][] scaled = DecoderReference.load(
                        writeChanged("unit-scaled", q3, q3, (n, v) -> scaleOneHead.apply(n, unitNorms.apply(n, v))))
                .logits(ids);
        assertClose(base, scaled, 1e-9);
        // The same with the random norm weights: the weight multiplies after normalising.
        assertClose(
                DecoderReference.load(writeChanged("rand", q3, q3, (n, v) -> v)).logits(ids),
                DecoderReference.load(writeChanged("rand-scaled", q3, q3, scaleOneHead))
                        .logits(ids),
                1e-9);
        // The norm weights matter, and without the norm (Qwen2) scaling a head changes the model.
        assertTrue(maxDiff(
                        base[7],
                        DecoderReference.load(writeChanged("rand2", q3, q3, (n, v) -> v))
                                .logits(ids)[7])
                > 1e-6);
        RandomDecoderCheckpoint q2 = tiny(ModelType.QWEN2).rmsNormEps(1e-12).build();
        assertTrue(maxDiff(
                        DecoderReference.load(writeChanged("q2", q2, q2, (n, v) -> v))
                                .logits(ids)[7],
                        DecoderReference.load(writeChanged("q2-scaled", q2, q2, scaleOneHead))
                                .logits(ids)[7])
                > 1e-6);
    }

    @Test
    void theReferenceReaderAgreesWithAttunesReaderOnEveryDtype() throws IOException {
        for (DType dtype : DType.values()) {
            RandomDecoderCheckpoint spec = tiny(ModelType.QWEN2)
                    .dtype(dtype)
                    .shards(dtype == DType.F16 ? 2 : 1)
                    .build();
            Path dir = write(dtype.name(), spec);
            ReferenceSafetensors mine = ReferenceSafetensors.open(dir);
            WeightStore theirs = WeightStore.open(dir);
            assertEquals(theirs.names(), mine.names());
            for (String n : theirs.names()) {
                ReferenceSafetensors.Tensor t = mine.tensor(n);
                assertEquals(dtype.name(), t.dtype());
                assertArrayEquals(theirs.info(n).shape(), t.shape());
                float[] f = theirs.floats(n);
                float[] exact = spec.values(n);
                for (int i = 0; i < f.length; i++) {
                    if (t.values()[i] != f[i]) {
                        throw new AssertionError(
                                dtype + " " + n + "[" + i + "]: reference " + t.values()[i] + ", Attune " + f[i]);
                    }
                    // And both are the generator's value within the dtype's half ulp.
                    double rel = dtype == DType.F32 ? 0 : dtype == DType.F16 ? 0x1p-11 : 0x1p-8;
                    if (Math.abs(t.values()[i] - exact[i])
                            > Math.abs(exact[i]) * rel + (dtype == DType.F16 ? 0x1p-25 : 0)) {
                        throw new AssertionError(dtype + " " + n + "[" + i + "]: " + t.values()[i] + " vs " + exact[i]);
                    }
                }
            }
        }
        // fp16 from its definition, including subnormals and the largest value.
        assertEquals(1.0, ReferenceSafetensors.fp16(0x3c00), 0);
        assertEquals(-2.0, ReferenceSafetensors.fp16(0xc000), 0);
        assertEquals(65504.0, ReferenceSafetensors.fp16(0x7bff), 0);
        assertEquals(Math.scalb(1.0, -24), ReferenceSafetensors.fp16(0x0001), 0);
        assertEquals(Double.NEGATIVE_INFINITY, ReferenceSafetensors.fp16(0xfc00), 0);
    }

    @Test
    void tiedAndUntiedHeadsReadTheRightMatrix() throws IOException {
        RandomDecoderCheckpoint tied =
                tiny(ModelType.LLAMA).tieWordEmbeddings(true).build();
        RandomDecoderCheckpoint untied =
                tied.toBuilder().tieWordEmbeddings(false).build();
        // An untied checkpoint whose lm_head is the embedding is the tied model.
        Path copy = writeChanged(
                "untied-copy",
                untied,
                untied,
                (n, v) -> n.equals("lm_head.weight") ? untied.values("model.embed_tokens.weight") : v);
        int[] ids = ids(6, 500, 9);
        double[][] a = DecoderReference.load(write("tied", tied)).logits(ids);
        assertClose(a, DecoderReference.load(copy).logits(ids), 0);
        assertTrue(maxDiff(a[5], DecoderReference.load(write("untied", untied)).logits(ids)[5]) > 1e-6);
    }

    /**
     * One layer, hidden 2, one head of width 2, FFN 1, vocab 3, two tokens, every step written out
     * by hand with the 2x2 rotation of RoPE (inv_freq = 1 for head_dim 2): Llama; Qwen2 adds q/k/v
     * biases; Qwen3 adds q/k norms with unequal weights, which do not commute with the rotation, so
     * normalising after RoPE instead of before would give other logits.
     */
    @ParameterizedTest
    @EnumSource(
            value = ModelType.class,
            names = {"LLAMA", "QWEN2", "QWEN3"})
    void aOneLayerModelMatchesAHandComputation(ModelType type) throws IOException {
        RandomDecoderCheckpoint spec = RandomDecoderCheckpoint.builder(type)
                .hiddenSize(2)
                .numLayers(1)
                .numHeads(1)
                .numKvHeads(1)
                .headDim(2)
                .intermediateSize(1)
                .vocabSize(3)
                .bosTokenId(0)
                .eosTokenIds(1)
                .rmsNormEps(1e-6)
                .build();
        Map<String, float[]> w = new LinkedHashMap<>();
        w.put("model.embed_tokens.weight", new float[] {1, 0, 0.5f, -1, -2, 1});
        w.put("model.layers.0.input_layernorm.weight", new float[] {1, 2});
        w.put("model.layers.0.self_attn.q_proj.weight", new float[] {1, 0, 0, 1});
        w.put("model.layers.0.self_attn.k_proj.weight", new float[] {0.5f, 0.5f, -0.5f, 1});
        w.put("model.layers.0.self_attn.v_proj.weight", new float[] {1, 1, 0, 2});
        w.put("model.layers.0.self_attn.q_proj.bias", new float[] {0.25f, -0.5f});
        w.put("model.layers.0.self_attn.k_proj.bias", new float[] {-0.25f, 0.5f});
        w.put("model.layers.0.self_attn.v_proj.bias", new float[] {1, -1});
        w.put("model.layers.0.self_attn.q_norm.weight", new float[] {2, 0.5f});
        w.put("model.layers.0.self_attn.k_norm.weight", new float[] {1, 3});
        w.put("model.layers.0.self_attn.o_proj.weight", new float[] {0.5f, 0, 0, 0.25f});
        w.put("model.layers.0.post_attention_layernorm.weight", new float[] {1, 1});
        w.put("model.layers.0.mlp.gate_proj.weight", new float[] {1, -1});
        w.put("model.layers.0.mlp.up_proj.weight", new float[] {2, 1});
        w.put("model.layers.0.mlp.down_proj.weight", new float[] {1, -0.5f});
        w.put("model.norm.weight", new float[] {1, 0.5f});
        w.put("lm_head.weight", new float[] {1, 0, 0, 1, 1, 1});
        Path dir = writeChanged("hand", spec, spec, (n, v) -> w.get(n));
        double[][] logits = DecoderReference.load(dir).logits(new int[] {1, 2});

        boolean bias = type == ModelType.QWEN2;
        boolean qkNorm = type == ModelType.QWEN3;
        double eps = 1e-6;
        double[][] x = {{0.5, -1}, {-2, 1}};
        double[][] h = new double[2][];
        for (int t = 0; t < 2; t++) {
            double r = 1 / Math.sqrt((x[t][0] * x[t][0] + x[t][1] * x[t][1]) / 2 + eps);
            h[t] = new double[] {x[t][0] * r * 1, x[t][1] * r * 2};
        }
        double[][] q = new double[2][];
        double[][] k = new double[2][];
        double[][] v = new double[2][];
        for (int t = 0; t < 2; t++) {
            q[t] = new double[] {h[t][0], h[t][1]};
            k[t] = new double[] {0.5 * h[t][0] + 0.5 * h[t][1], -0.5 * h[t][0] + h[t][1]};
            v[t] = new double[] {h[t][0] + h[t][1], 2 * h[t][1]};
            if (bias) {
                q[t] = new double[] {q[t][0] + 0.25, q[t][1] - 0.5};
                k[t] = new double[] {k[t][0] - 0.25, k[t][1] + 0.5};
                v[t] = new double[] {v[t][0] + 1, v[t][1] - 1};
            }
            if (qkNorm) {
                double rq = 1 / Math.sqrt((q[t][0] * q[t][0] + q[t][1] * q[t][1]) / 2 + eps);
                q[t] = new double[] {q[t][0] * rq * 2, q[t][1] * rq * 0.5};
                double rk = 1 / Math.sqrt((k[t][0] * k[t][0] + k[t][1] * k[t][1]) / 2 + eps);
                k[t] = new double[] {k[t][0] * rk * 1, k[t][1] * rk * 3};
            }
            // RoPE at position t, angle t: (a, b) -> (a cos - b sin, b cos + a sin).
            q[t] = new double[] {
                q[t][0] * Math.cos(t) - q[t][1] * Math.sin(t), q[t][1] * Math.cos(t) + q[t][0] * Math.sin(t)
            };
            k[t] = new double[] {
                k[t][0] * Math.cos(t) - k[t][1] * Math.sin(t), k[t][1] * Math.cos(t) + k[t][0] * Math.sin(t)
            };
        }
        double[][] attn = new double[2][];
        attn[0] = v[0]; // one key: weight 1
        double s0 = (q[1][0] * k[0][0] + q[1][1] * k[0][1]) / Math.sqrt(2);
        double s1 = (q[1][0] * k[1][0] + q[1][1] * k[1][1]) / Math.sqrt(2);
        double p0 = Math.exp(s0) / (Math.exp(s0) + Math.exp(s1));
        attn[1] = new double[] {p0 * v[0][0] + (1 - p0) * v[1][0], p0 * v[0][1] + (1 - p0) * v[1][1]};
        for (int t = 0; t < 2; t++) {
            x[t] = new double[] {x[t][0] + 0.5 * attn[t][0], x[t][1] + 0.25 * attn[t][1]};
            double r = 1 / Math.sqrt((x[t][0] * x[t][0] + x[t][1] * x[t][1]) / 2 + eps);
            double g0 = x[t][0] * r;
            double g1 = x[t][1] * r;
            double gate = g0 - g1;
            double up = 2 * g0 + g1;
            double m = gate / (1 + Math.exp(-gate)) * up;
            x[t] = new double[] {x[t][0] + m, x[t][1] - 0.5 * m};
            r = 1 / Math.sqrt((x[t][0] * x[t][0] + x[t][1] * x[t][1]) / 2 + eps);
            double n0 = x[t][0] * r;
            double n1 = x[t][1] * r * 0.5;
            double[] want = {n0, n1, n0 + n1};
            assertArrayEquals(want, logits[t], 1e-12, type + " token " + t);
        }
    }

    @Test
    void aQwen3SizedVocabularyIsFast() throws IOException {
        RandomDecoderCheckpoint spec = tiny(ModelType.QWEN3)
                .vocabSize(151936)
                .bosTokenId(151643)
                .eosTokenIds(151645)
                .tieWordEmbeddings(true)
                .dtype(DType.BF16)
                .build();
        Path dir = tmp.resolve("qwen3-vocab");
        spec.write(dir, TestTokenizers.dir("qwen3"));
        DecoderReference ref = DecoderReference.load(dir);
        int[] ids = ids(30, 151669, 10);
        long start = System.nanoTime();
        double[] lp = ref.tokenLogprobs(ids);
        double seconds = (System.nanoTime() - start) / 1e9;
        System.out.println("reference: 30 tokens, vocab 151936 in " + seconds + " s");
        for (int t = 1; t < lp.length; t++) {
            assertTrue(lp[t] < 0 && lp[t] > -100, "log-prob " + lp[t]);
        }
        // Generous: the point is to catch an accidental quadratic, not to time a shared machine.
        assertTrue(seconds < 20, seconds + " s");
        JsonNode c = JSON.readTree(dir.resolve("config.json").toFile());
        assertEquals(c.get("head_dim").asInt(), ref.config().headDim());
    }
}

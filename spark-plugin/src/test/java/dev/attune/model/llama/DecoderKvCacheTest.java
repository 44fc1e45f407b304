package dev.attune.model.llama;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.attune.kernels.attention.CpuFlashAttention;
import dev.attune.kernels.cpu.CpuThreads;
import dev.attune.kernels.kv.KvBatch;
import dev.attune.kernels.kv.KvBlockPool;
import dev.attune.kernels.kv.KvSequence;
import dev.attune.kernels.ops.CpuTensorOps;
import dev.attune.kernels.ops.CpuWeights;
import dev.attune.kernels.ops.TensorOps;
import dev.attune.kernels.select.ComputeDtype;
import dev.attune.model.DecoderModel;
import dev.attune.model.llama.RandomDecoderCheckpoint.ModelType;
import dev.attune.model.safetensors.DType;
import dev.attune.testing.decoder.DecoderReference;
import dev.attune.testing.decoder.TestTokenizers;
import dev.attune.testing.decoder.UncachedGreedy;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The decoder graph over a paged KV cache (fp32 CPU): a prompt prefilled in chunks and then
 * decoded one token at a time gives the hidden states of one uncached pass over the whole
 * sequence; sequences decoded together in one batch give, bit for bit, what each gives alone; the
 * greedy continuation equals the float64 reference's greedy continuation; a pass whose positions
 * do not continue the cache, or without reserved room, is refused. GQA, Mistral's sliding window
 * and Qwen3's q/k norm on the real tokenizers' checkpoints.
 */
class DecoderKvCacheTest {

    enum Variant {
        LLAMA_GQA(
                RandomDecoderCheckpoint.builder(ModelType.LLAMA)
                        .numHeads(4)
                        .numKvHeads(2)
                        .headDim(16)
                        .initStd(0.3),
                "llama2"),
        MISTRAL_WINDOW(
                RandomDecoderCheckpoint.builder(ModelType.MISTRAL)
                        .numHeads(4)
                        .numKvHeads(1)
                        .headDim(16)
                        .slidingWindow(5)
                        .dtype(DType.BF16)
                        .initStd(0.3),
                "llama2"),
        QWEN3_QKNORM(
                RandomDecoderCheckpoint.builder(ModelType.QWEN3)
                        .numHeads(4)
                        .numKvHeads(2)
                        .headDim(24)
                        .vocabSize(151936)
                        .bosTokenId(151643)
                        .eosTokenIds(151645)
                        .initStd(0.3),
                "qwen3");

        final RandomDecoderCheckpoint.Builder spec;
        final String tokenizer;

        Variant(RandomDecoderCheckpoint.Builder spec, String tokenizer) {
            this.spec = spec;
            this.tokenizer = tokenizer;
        }
    }

    @TempDir
    static Path tmp;

    private static CpuThreads threads;

    @BeforeAll
    static void start() {
        threads = new CpuThreads(2);
    }

    @AfterAll
    static void stop() {
        threads.close();
    }

    private static Path write(Variant v) throws Exception {
        Path dir = tmp.resolve(v.name());
        if (!dir.toFile().exists()) {
            v.spec.build().write(dir, TestTokenizers.dir(v.tokenizer));
        }
        return dir;
    }

    private static TensorOps ops() {
        return new CpuTensorOps(ComputeDtype.FP32, new CpuFlashAttention(), threads);
    }

    private static int[] randomIds(Random rnd, int n, int vocab) {
        int[] ids = new int[n];
        for (int i = 0; i < n; i++) {
            ids[i] = rnd.nextInt(vocab);
        }
        return ids;
    }

    /** One cached pass of {@code rows} (new tokens per sequence); returns the hidden state, (tokens, hidden). */
    private static float[] step(
            LlamaGraph g, LlamaGraph.Resident w, KvBlockPool pool, List<KvSequence> seqs, List<int[]> rows) {
        int[] cu = new int[rows.size() + 1];
        for (int b = 0; b < rows.size(); b++) {
            cu[b + 1] = cu[b] + rows.get(b).length;
        }
        int[] ids = new int[cu[rows.size()]];
        int[] pos = new int[ids.length];
        for (int b = 0; b < rows.size(); b++) {
            assertTrue(seqs.get(b).reserve(rows.get(b).length), "room in the pool");
            for (int i = 0; i < rows.get(b).length; i++) {
                ids[cu[b] + i] = rows.get(b)[i];
                pos[cu[b] + i] = seqs.get(b).length() + i;
            }
        }
        KvBatch kv = new KvBatch(pool, seqs);
        TensorOps ops = ops();
        float[] h = ops.download(g.forward(w, new SequenceBatch(ids, cu, pos), kv, ops));
        kv.advance(cu);
        return h;
    }

    @ParameterizedTest
    @EnumSource(Variant.class)
    void chunkedPrefillAndDecodeMatchOneUncachedPass(Variant v) throws Exception {
        try (DecoderModel m = DecoderModel.load(write(v))) {
            LlamaGraph g = m.graph();
            LlamaGraph.Resident w = g.residentOn(new CpuWeights(ComputeDtype.FP32));
            int hidden = g.config().hiddenSize();
            int[] ids = randomIds(new Random(11), 19, g.config().vocabSize());
            TensorOps ops = ops();
            float[] full = ops.download(g.forward(w, SequenceBatch.prefill(List.of(ids)), ops));

            KvBlockPool pool = new KvBlockPool(g.kvShape(4), 16);
            KvSequence seq = new KvSequence(pool);
            List<float[]> parts = new ArrayList<>();
            parts.add(step(g, w, pool, List.of(seq), List.of(java.util.Arrays.copyOfRange(ids, 0, 6))));
            parts.add(step(g, w, pool, List.of(seq), List.of(java.util.Arrays.copyOfRange(ids, 6, 9))));
            for (int i = 9; i < ids.length; i++) {
                parts.add(step(g, w, pool, List.of(seq), List.of(new int[] {ids[i]})));
            }
            assertEquals(ids.length, seq.length());
            int row = 0;
            for (float[] part : parts) {
                for (int r = 0; r < part.length / hidden; r++, row++) {
                    for (int c = 0; c < hidden; c++) {
                        float want = full[row * hidden + c];
                        float got = part[r * hidden + c];
                        if (!(Math.abs(want - got) <= 2e-5 * Math.max(1, Math.abs(want)))) {
                            fail(v + ": token " + row + " column " + c + ": cached " + got + ", uncached " + want);
                        }
                    }
                }
            }
            seq.release();
            assertEquals(16, pool.freeBlocks());
        }
    }

    @ParameterizedTest
    @EnumSource(Variant.class)
    void sequencesDecodedTogetherGiveWhatEachGivesAlone(Variant v) throws Exception {
        try (DecoderModel m = DecoderModel.load(write(v))) {
            LlamaGraph g = m.graph();
            LlamaGraph.Resident w = g.residentOn(new CpuWeights(ComputeDtype.FP32));
            Random rnd = new Random(5);
            int[][] prompts = {
                randomIds(rnd, 3, g.config().vocabSize()),
                randomIds(rnd, 11, g.config().vocabSize()),
                randomIds(rnd, 6, g.config().vocabSize())
            };
            int[][] next = {
                randomIds(rnd, 4, g.config().vocabSize()),
                randomIds(rnd, 4, g.config().vocabSize()),
                randomIds(rnd, 4, g.config().vocabSize())
            };
            // Together: one prefill pass of all three, then four decode steps of all three.
            KvBlockPool pool = new KvBlockPool(g.kvShape(4), 32);
            List<KvSequence> seqs = List.of(new KvSequence(pool), new KvSequence(pool), new KvSequence(pool));
            step(g, w, pool, seqs, List.of(prompts));
            List<float[]> together = new ArrayList<>();
            for (int t = 0; t < 4; t++) {
                together.add(step(
                        g, w, pool, seqs, List.of(new int[] {next[0][t]}, new int[] {next[1][t]}, new int[] {next[2][t]
                        })));
            }
            int hidden = g.config().hiddenSize();
            for (int b = 0; b < 3; b++) {
                KvBlockPool own = new KvBlockPool(g.kvShape(4), 8);
                KvSequence s = new KvSequence(own);
                step(g, w, own, List.of(s), List.of(prompts[b]));
                for (int t = 0; t < 4; t++) {
                    float[] alone = step(g, w, own, List.of(s), List.<int[]>of(new int[] {next[b][t]}));
                    float[] mine = java.util.Arrays.copyOfRange(together.get(t), b * hidden, (b + 1) * hidden);
                    assertArrayEquals(alone, mine, v + ": sequence " + b + " step " + t);
                }
            }
        }
    }

    @ParameterizedTest
    @EnumSource(Variant.class)
    void greedyContinuationEqualsTheFloat64Reference(Variant v) throws Exception {
        Path dir = write(v);
        DecoderReference ref = DecoderReference.load(dir);
        try (DecoderModel m = DecoderModel.load(dir)) {
            LlamaGraph g = m.graph();
            LlamaGraph.Resident w = g.residentOn(new CpuWeights(ComputeDtype.FP32));
            int[] prompt = m.tokenizer().encode("The quick brown fox").ids();
            int steps = 6;
            // The reference: the whole sequence again at every step, argmax of the last position.
            List<Integer> want = new ArrayList<>();
            int[] seqIds = prompt.clone();
            for (int s = 0; s < steps; s++) {
                double[][] logits = ref.logits(seqIds);
                int best = UncachedGreedy.argmax(logits[logits.length - 1]);
                want.add(best);
                seqIds = java.util.Arrays.copyOf(seqIds, seqIds.length + 1);
                seqIds[seqIds.length - 1] = best;
            }
            // Attune: the prompt into the cache, then one token per step.
            KvBlockPool pool = new KvBlockPool(g.kvShape(8), 8);
            KvSequence seq = new KvSequence(pool);
            List<Integer> got = new ArrayList<>();
            int[] input = prompt;
            for (int s = 0; s < steps; s++) {
                TensorOps ops = ops();
                int n = input.length;
                int[] cu = {0, n};
                int[] pos = new int[n];
                assertTrue(seq.reserve(n));
                for (int i = 0; i < n; i++) {
                    pos[i] = seq.length() + i;
                }
                KvBatch kv = new KvBatch(pool, List.of(seq));
                var h = g.forward(w, new SequenceBatch(input, cu, pos), kv, ops);
                kv.advance(cu);
                float[] logits = ops.logits(h, new int[] {n - 1}, w.lmHead());
                int best = UncachedGreedy.argmax(logits);
                got.add(best);
                input = new int[] {best};
            }
            assertEquals(want, got, v + ": greedy continuation of " + java.util.Arrays.toString(prompt));
        }
    }

    @ParameterizedTest
    @EnumSource(value = Variant.class, names = "LLAMA_GQA")
    void passesThatDoNotContinueTheCacheAreRefused(Variant v) throws Exception {
        try (DecoderModel m = DecoderModel.load(write(v))) {
            LlamaGraph g = m.graph();
            LlamaGraph.Resident w = g.residentOn(new CpuWeights(ComputeDtype.FP32));
            KvBlockPool pool = new KvBlockPool(g.kvShape(4), 4);
            KvSequence seq = new KvSequence(pool);
            step(g, w, pool, List.of(seq), List.<int[]>of(new int[] {1, 2, 3}));
            KvBatch kv = new KvBatch(pool, List.of(seq));
            IllegalArgumentException wrongPosition = assertThrows(
                    IllegalArgumentException.class,
                    () -> g.forward(w, new SequenceBatch(new int[] {4}, new int[] {0, 1}, new int[] {0}), kv, ops()));
            assertTrue(
                    wrongPosition.getMessage().contains("is at position 0 but its sequence has 3 tokens cached"),
                    wrongPosition.getMessage());
            IllegalStateException noRoom = assertThrows(
                    IllegalStateException.class,
                    () -> g.forward(
                            w, new SequenceBatch(new int[] {4, 5}, new int[] {0, 2}, new int[] {3, 4}), kv, ops()));
            assertTrue(noRoom.getMessage().contains("reserve before the pass"), noRoom.getMessage());
            IllegalArgumentException otherShape = assertThrows(
                    IllegalArgumentException.class,
                    () -> g.forward(
                            w,
                            new SequenceBatch(new int[] {4}, new int[] {0, 1}, new int[] {0}),
                            new KvBatch(
                                    new KvBlockPool(new dev.attune.kernels.kv.KvShape(1, 1, 8, 4), 2),
                                    List.of(new KvSequence(pool))),
                            ops()));
            assertTrue(otherShape.getMessage().contains("does not fit"), otherShape.getMessage());
        }
    }
}

package dev.attune.kernels.attention;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.attune.kernels.cpu.CpuThreads;
import dev.attune.kernels.kv.KvBlockPool;
import dev.attune.kernels.kv.KvSequence;
import dev.attune.kernels.kv.KvShape;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Attention over paged KV caches against the packed prefill oracle: sequences of different
 * lengths are written into a pool with their blocks interleaved (so a wrong block table or offset
 * reads another sequence's keys), then the last {@code q} tokens of each attend to the cache; the
 * {@code cpu-math} paged kernel must equal the {@code cpu-math} causal prefill over the same
 * tokens (an independent implementation over the packed layout), {@code cpu-flash} paged within
 * fp32 rounding of it, for GQA, MHA, sliding windows, one query (decode) or several (chunked
 * prefill), blocks that end mid-way; {@code cpu-flash} is the same bit for bit on 1 and 3 threads.
 */
class PagedAttentionTest {

    @ParameterizedTest(name = "heads={0} kvHeads={1} d={2} block={3} queries={4} window={5}")
    @CsvSource({
        "8, 2, 16, 4, 1, 0", // GQA decode, small blocks
        "4, 4, 32, 16, 1, 0", // MHA decode
        "8, 1, 8, 8, 3, 0", // multi-query, chunked queries
        "6, 3, 16, 5, 4, 7", // window shorter than the contexts, block size not a power of two
        "4, 2, 64, 16, 1, 20",
    })
    void pagedKernelsMatchThePackedPrefillOracle(
            int heads, int kvHeads, int d, int blockSize, int queries, int window) {
        Random rnd = new Random(heads * 131 + d * 7 + blockSize + queries * 3 + window);
        int[] lengths = {1 + queries, 37, 16, 9, 70};
        for (int i = 0; i < lengths.length; i++) {
            lengths[i] = Math.max(lengths[i], queries);
        }
        KvShape shape = new KvShape(1, kvHeads, d, blockSize);
        int totalBlocks = 0;
        for (int n : lengths) {
            totalBlocks += shape.blocksOf(n);
        }
        KvBlockPool pool = new KvBlockPool(shape, totalBlocks + 3);
        // Packed fused q | k | v per token, the prefill oracle's layout.
        int qw = heads * d;
        int kvw = kvHeads * d;
        int row = qw + 2 * kvw;
        int[] cu = new int[lengths.length + 1];
        for (int b = 0; b < lengths.length; b++) {
            cu[b + 1] = cu[b] + lengths[b];
        }
        float[] fused = new float[cu[lengths.length] * row];
        for (int i = 0; i < fused.length; i++) {
            fused[i] = (float) rnd.nextGaussian();
        }
        // Fill the caches one token of every sequence at a time, so their blocks interleave.
        List<KvSequence> seqs = new ArrayList<>();
        for (int b = 0; b < lengths.length; b++) {
            seqs.add(new KvSequence(pool));
        }
        int longest = java.util.Arrays.stream(lengths).max().orElseThrow();
        for (int pos = 0; pos < longest; pos++) {
            for (int b = 0; b < lengths.length; b++) {
                if (pos < lengths[b]) {
                    KvSequence s = seqs.get(b);
                    assertTrue(s.reserve(1));
                    int o = (cu[b] + pos) * row;
                    s.write(0, pos, fused, o + qw, fused, o + qw + kvw);
                    s.advance(1);
                }
            }
        }
        // The last `queries` tokens of each sequence as the new queries.
        int[] starts = new int[lengths.length + 1];
        int[][] tables = new int[lengths.length][];
        for (int b = 0; b < lengths.length; b++) {
            starts[b + 1] = starts[b] + queries;
            tables[b] = seqs.get(b).blockTable();
        }
        float[] q = new float[starts[lengths.length] * qw];
        for (int b = 0; b < lengths.length; b++) {
            for (int t = 0; t < queries; t++) {
                System.arraycopy(fused, (cu[b] + lengths[b] - queries + t) * row, q, (starts[b] + t) * qw, qw);
            }
        }
        PagedAttentionProblem p =
                new PagedAttentionProblem(heads, shape, (float) (1.0 / Math.sqrt(d)), window, starts, lengths, tables);

        AttentionProblem packed = AttentionProblem.fusedGqa(cu, heads, kvHeads, d, window);
        float[] full = new float[cu[lengths.length] * qw];
        try (CpuThreads one = CpuThreads.single();
                CpuThreads three = new CpuThreads(3)) {
            new CpuMathAttention().forward(packed, fused, fused, fused, full, one);
            float[] oracle = new float[q.length];
            for (int b = 0; b < lengths.length; b++) {
                for (int t = 0; t < queries; t++) {
                    System.arraycopy(full, (cu[b] + lengths[b] - queries + t) * qw, oracle, (starts[b] + t) * qw, qw);
                }
            }
            float[] math = new float[q.length];
            new CpuMathPagedAttention().forward(p, q, 0, qw, pool.keys(0), pool.values(0), math, three);
            assertClose(oracle, math, 1e-6, "cpu-math paged vs packed cpu-math");
            float[] flash1 = new float[q.length];
            float[] flash3 = new float[q.length];
            new CpuFlashPagedAttention().forward(p, q, 0, qw, pool.keys(0), pool.values(0), flash1, one);
            new CpuFlashPagedAttention().forward(p, q, 0, qw, pool.keys(0), pool.values(0), flash3, three);
            assertClose(oracle, flash1, 2e-5, "cpu-flash paged vs packed cpu-math");
            assertArrayEquals(flash1, flash3, "cpu-flash paged: 1 and 3 threads");
        }
    }

    private static void assertClose(float[] want, float[] got, double tol, String what) {
        for (int i = 0; i < want.length; i++) {
            if (!(Math.abs(want[i] - got[i]) <= tol * Math.max(1, Math.abs(want[i])))) {
                fail(what + ": element " + i + " is " + got[i] + ", expected " + want[i]);
            }
        }
    }
}

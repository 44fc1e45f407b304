package dev.attune.kernels.attention;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.attune.kernels.cpu.CpuThreads;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Grouped-query attention and Mistral's sliding window on the CPU paths. The oracle is written
 * here without either feature: K/V heads replicated per query head into a multi-head problem,
 * and, for the window, explicit loops over the visible keys in double. {@code cpu-math} and
 * {@code cpu-flash} must match it on ragged causal batches whose rows are longer than the
 * flash key block (so windows cut across blocks) with the fused q | k | v layout decoders use.
 */
class GroupedQueryAttentionTest {

    private static CpuThreads threads;

    @BeforeAll
    static void start() {
        threads = new CpuThreads(2);
    }

    @AfterAll
    static void stop() {
        threads.close();
    }

    private static int[] cu(int... lengths) {
        int[] c = new int[lengths.length + 1];
        for (int i = 0; i < lengths.length; i++) {
            c[i + 1] = c[i] + lengths[i];
        }
        return c;
    }

    private static float[] random(int n, long seed) {
        Random r = new Random(seed);
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) r.nextGaussian();
        }
        return a;
    }

    /** Explicit attention in double: each query head reads K/V head h / group, keys in [i - window + 1, i]. */
    private static float[] oracle(AttentionProblem p, float[] qkv) {
        int d = p.headDim();
        float[] out = new float[p.totalTokens() * p.outWidth()];
        for (int b = 0; b < p.batch(); b++) {
            int s = p.cuSeqlens()[b];
            for (int h = 0; h < p.heads(); h++) {
                int kvh = h / (p.heads() / p.kvHeads());
                for (int i = 0; i < p.seqLen(b); i++) {
                    int lo = p.slidingWindow() > 0 ? Math.max(0, i - p.slidingWindow() + 1) : 0;
                    int hi = p.causal() ? i : p.seqLen(b) - 1;
                    double[] sc = new double[hi - lo + 1];
                    double max = Double.NEGATIVE_INFINITY;
                    for (int j = lo; j <= hi; j++) {
                        double dot = 0;
                        for (int c = 0; c < d; c++) {
                            dot += (double) qkv[(s + i) * p.rowStride() + p.qOffset() + h * d + c]
                                    * qkv[(s + j) * p.rowStride() + p.kOffset() + kvh * d + c];
                        }
                        sc[j - lo] = dot * p.scale();
                        max = Math.max(max, sc[j - lo]);
                    }
                    double sum = 0;
                    for (int j = 0; j < sc.length; j++) {
                        sc[j] = Math.exp(sc[j] - max);
                        sum += sc[j];
                    }
                    for (int c = 0; c < d; c++) {
                        double acc = 0;
                        for (int j = lo; j <= hi; j++) {
                            acc += sc[j - lo] / sum * qkv[(s + j) * p.rowStride() + p.vOffset() + kvh * d + c];
                        }
                        out[(s + i) * p.outWidth() + h * d + c] = (float) acc;
                    }
                }
            }
        }
        return out;
    }

    private static void assertClose(float[] want, float[] got, double tol, String what) {
        double worst = 0;
        for (int i = 0; i < want.length; i++) {
            worst = Math.max(worst, Math.abs(want[i] - got[i]));
        }
        assertTrue(worst <= tol, what + ": max |diff| " + worst);
    }

    @Test
    void groupedHeadsAndWindowsMatchTheOracleOnBothPaths() {
        int[][] shapes = {{8, 2}, {8, 1}, {6, 3}, {4, 4}};
        int[] windows = {0, 1, 7, 64, 100, 1000};
        int d = 16;
        int[] cuSeqlens = cu(150, 1, 65, 0, 90);
        for (int[] hk : shapes) {
            for (int window : windows) {
                AttentionProblem p = AttentionProblem.fusedGqa(cuSeqlens, hk[0], hk[1], d, window);
                float[] qkv = random(p.totalTokens() * p.rowStride(), 31L * hk[0] + hk[1] + window);
                float[] want = oracle(p, qkv);
                for (AttentionKernel k : new AttentionKernel[] {new CpuMathAttention(), new CpuFlashAttention()}) {
                    float[] out = new float[want.length];
                    k.forward(p, qkv, qkv, qkv, out, threads);
                    assertClose(
                            want,
                            out,
                            k instanceof CpuMathAttention ? 1e-6 : 2e-5,
                            k.path() + " heads=" + hk[0] + " kv=" + hk[1] + " window=" + window);
                }
            }
        }
    }

    @Test
    void groupedQueryAttentionEqualsMultiHeadAttentionOnReplicatedKeysAndValues() {
        int heads = 8;
        int kv = 2;
        int d = 32;
        int[] cuSeqlens = cu(70, 33);
        AttentionProblem gqa = AttentionProblem.fusedGqa(cuSeqlens, heads, kv, d, 0);
        float[] qkv = random(gqa.totalTokens() * gqa.rowStride(), 5);
        // The same problem with each K/V head copied to the query heads of its group.
        AttentionProblem mha = AttentionProblem.fusedGqa(cuSeqlens, heads, heads, d, 0);
        float[] wide = new float[mha.totalTokens() * mha.rowStride()];
        for (int t = 0; t < gqa.totalTokens(); t++) {
            System.arraycopy(qkv, t * gqa.rowStride(), wide, t * mha.rowStride(), heads * d);
            for (int h = 0; h < heads; h++) {
                int src = h / (heads / kv);
                System.arraycopy(
                        qkv,
                        t * gqa.rowStride() + gqa.kOffset() + src * d,
                        wide,
                        t * mha.rowStride() + mha.kOffset() + h * d,
                        d);
                System.arraycopy(
                        qkv,
                        t * gqa.rowStride() + gqa.vOffset() + src * d,
                        wide,
                        t * mha.rowStride() + mha.vOffset() + h * d,
                        d);
            }
        }
        for (AttentionKernel k : new AttentionKernel[] {new CpuMathAttention(), new CpuFlashAttention()}) {
            float[] a = new float[gqa.totalTokens() * gqa.outWidth()];
            float[] b = new float[a.length];
            k.forward(gqa, qkv, qkv, qkv, a, threads);
            k.forward(mha, wide, wide, wide, b, threads);
            assertClose(b, a, 0, k.path());
        }
    }

    @Test
    void continuationsOfASharedPrefixEqualTheirConcatenatedRows() {
        int heads = 4;
        int kv = 2;
        int d = 16;
        // Row 0 is a prompt of 70 tokens; rows 1..3 continue it; row 4 stands alone; row 5 continues row 4.
        int[] lengths = {70, 3, 1, 66, 40, 5};
        int[] prefix = {-1, 0, 0, 0, -1, 4};
        for (int window : new int[] {0, 20}) {
            AttentionProblem shared = AttentionProblem.fusedGqa(cu(lengths), heads, kv, d, window, prefix);
            float[] qkv = random(shared.totalTokens() * shared.rowStride(), 77 + window);
            // The same work without sharing: each continuation as one row, prefix tokens copied in front.
            int[] wide = new int[lengths.length];
            for (int b = 0; b < lengths.length; b++) {
                wide[b] = lengths[b] + (prefix[b] >= 0 ? lengths[prefix[b]] : 0);
            }
            AttentionProblem plain = AttentionProblem.fusedGqa(cu(wide), heads, kv, d, window);
            float[] flat = new float[plain.totalTokens() * plain.rowStride()];
            int[] own = new int[lengths.length]; // where each row's own tokens start in the plain batch
            for (int b = 0, t = 0; b < lengths.length; b++) {
                if (prefix[b] >= 0) {
                    int p = prefix[b];
                    System.arraycopy(
                            qkv,
                            shared.cuSeqlens()[p] * shared.rowStride(),
                            flat,
                            t * plain.rowStride(),
                            lengths[p] * shared.rowStride());
                    t += lengths[p];
                }
                own[b] = t;
                System.arraycopy(
                        qkv,
                        shared.cuSeqlens()[b] * shared.rowStride(),
                        flat,
                        t * plain.rowStride(),
                        lengths[b] * shared.rowStride());
                t += lengths[b];
            }
            float[] want = new float[plain.totalTokens() * plain.outWidth()];
            new CpuMathAttention().forward(plain, flat, flat, flat, want, threads);
            for (AttentionKernel k : new AttentionKernel[] {new CpuMathAttention(), new CpuFlashAttention()}) {
                float[] out = new float[shared.totalTokens() * shared.outWidth()];
                k.forward(shared, qkv, qkv, qkv, out, threads);
                for (int b = 0; b < lengths.length; b++) {
                    float[] w = java.util.Arrays.copyOfRange(
                            want, own[b] * plain.outWidth(), (own[b] + lengths[b]) * plain.outWidth());
                    float[] g = java.util.Arrays.copyOfRange(
                            out,
                            shared.cuSeqlens()[b] * shared.outWidth(),
                            shared.cuSeqlens()[b + 1] * shared.outWidth());
                    assertClose(
                            w,
                            g,
                            k instanceof CpuMathAttention ? 1e-6 : 2e-5,
                            k.path() + " window " + window + " row " + b);
                }
            }
        }
        assertThrows(
                IllegalArgumentException.class,
                () -> AttentionProblem.fusedGqa(cu(4, 4), 2, 2, 8, 0, new int[] {1, -1}));
        assertThrows(
                IllegalArgumentException.class,
                () -> AttentionProblem.fusedGqa(cu(4, 4, 4), 2, 2, 8, 0, new int[] {-1, 0, 1}));
    }

    @Test
    void invalidGroupingsAndWindowsAreRefused() {
        IllegalArgumentException e =
                assertThrows(IllegalArgumentException.class, () -> AttentionProblem.fusedGqa(cu(4), 6, 4, 8, 0));
        assertTrue(e.getMessage().contains("must divide"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> AttentionProblem.fusedGqa(cu(4), 6, 4, 8, -1));
        assertThrows(
                IllegalArgumentException.class,
                () -> new AttentionProblem(cu(4), 2, 2, 8, false, 4, 1f, 48, 0, 16, 32));
        AttentionProblem p = AttentionProblem.fusedGqa(cu(4), 4, 2, 8, 0);
        assertEquals((4 + 2 * 2) * 8, p.rowStride());
        assertEquals(1, p.kvHeadOf(3));
    }
}

package dev.attune.kernels.attention;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.attune.kernels.cpu.CpuThreads;
import java.lang.management.ManagementFactory;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Differential test of the CPU attention paths. {@link CpuMathAttention} is checked against an
 * independent naive implementation written here (explicit loops in double), and
 * {@link CpuFlashAttention} against {@link CpuMathAttention}, within 1e-5 absolute, on random
 * N(0,1) problems over head_dim {8..256}, heads {1, 2, 12}, ragged batches, causal or not, with
 * the fused QKV layout and with separate Q/K/V buffers of a wider row stride whose unused slots
 * hold NaN (so a read outside a head's slot shows up); also a 2048-token row, rows of length zero
 * anywhere in a batch, extreme scores, bit-for-bit equality across thread counts, the
 * workspace's growth (N² for math, N for flash) and its agreement with what one call allocates,
 * and the refusal of invalid problems and of buffers too small, before anything is written.
 */
class AttentionDifferentialTest {

    private static final int[] HEAD_DIMS = {8, 16, 32, 64, 72, 80, 96, 128, 256};
    private static final int[] HEADS = {1, 2, 12};
    private static final int[] LENGTHS = {1, 5, 31, 32, 33, 64, 65, 130};

    private static final CpuMathAttention MATH = new CpuMathAttention();
    private static final CpuFlashAttention FLASH = new CpuFlashAttention();

    private static CpuThreads threads;

    @BeforeAll
    static void startThreads() {
        threads = new CpuThreads(2);
    }

    @AfterAll
    static void stopThreads() {
        threads.close();
    }

    /** One random problem and its buffers (q, k and v are one array in the fused layout). */
    private record Case(AttentionProblem p, float[] q, float[] k, float[] v, String name) {}

    private static int[] cuSeqlens(int... lengths) {
        int[] cu = new int[lengths.length + 1];
        for (int i = 0; i < lengths.length; i++) {
            cu[i + 1] = cu[i] + lengths[i];
        }
        return cu;
    }

    private static Case fused(int[] lengths, int heads, int d, boolean causal, double inputScale, Random rnd) {
        AttentionProblem p = AttentionProblem.fusedQkv(cuSeqlens(lengths), heads, d, causal);
        float[] qkv = new float[p.totalTokens() * p.rowStride()];
        for (int i = 0; i < qkv.length; i++) {
            qkv[i] = (float) (rnd.nextGaussian() * inputScale);
        }
        return new Case(p, qkv, qkv, qkv, "fused heads=" + heads + " d=" + d + " causal=" + causal);
    }

    /**
     * Separate Q, K and V buffers with a row stride wider than the heads and different offsets in
     * each; every float of a buffer that is not its own slot is NaN.
     */
    private static Case separate(int[] lengths, int heads, int d, boolean causal, double inputScale, Random rnd) {
        int width = heads * d;
        int stride = width + 9;
        AttentionProblem p = new AttentionProblem(
                cuSeqlens(lengths), heads, d, causal, (float) (0.7 / Math.sqrt(d)), stride, 2, 9, 5);
        int tokens = p.totalTokens();
        float[][] bufs = new float[3][];
        int[] offsets = {p.qOffset(), p.kOffset(), p.vOffset()};
        for (int b = 0; b < 3; b++) {
            float[] a = new float[tokens * stride];
            Arrays.fill(a, Float.NaN);
            for (int t = 0; t < tokens; t++) {
                for (int c = 0; c < width; c++) {
                    a[t * stride + offsets[b] + c] = (float) (rnd.nextGaussian() * inputScale);
                }
            }
            bufs[b] = a;
        }
        return new Case(p, bufs[0], bufs[1], bufs[2], "separate heads=" + heads + " d=" + d + " causal=" + causal);
    }

    /** The textbook formula, one (row, head, query) at a time, in double. */
    private static double[] naive(AttentionProblem p, float[] q, float[] k, float[] v) {
        int d = p.headDim();
        int width = p.outWidth();
        double[] out = new double[p.totalTokens() * width];
        for (int b = 0; b < p.batch(); b++) {
            int start = p.cuSeqlens()[b];
            int n = p.cuSeqlens()[b + 1] - start;
            for (int h = 0; h < p.heads(); h++) {
                for (int i = 0; i < n; i++) {
                    int last = p.causal() ? i : n - 1;
                    double[] w = new double[last + 1];
                    double max = Double.NEGATIVE_INFINITY;
                    for (int j = 0; j <= last; j++) {
                        double dot = 0;
                        for (int c = 0; c < d; c++) {
                            dot += (double) q[(start + i) * p.rowStride() + p.qOffset() + h * d + c]
                                    * (double) k[(start + j) * p.rowStride() + p.kOffset() + h * d + c];
                        }
                        w[j] = dot * p.scale();
                        max = Math.max(max, w[j]);
                    }
                    double sum = 0;
                    for (int j = 0; j <= last; j++) {
                        w[j] = Math.exp(w[j] - max);
                        sum += w[j];
                    }
                    for (int c = 0; c < d; c++) {
                        double o = 0;
                        for (int j = 0; j <= last; j++) {
                            o += w[j] / sum * v[(start + j) * p.rowStride() + p.vOffset() + h * d + c];
                        }
                        out[(start + i) * width + h * d + c] = o;
                    }
                }
            }
        }
        return out;
    }

    private static float[] run(AttentionKernel kernel, Case c, CpuThreads pool) {
        float[] out = new float[c.p().totalTokens() * c.p().outWidth()];
        Arrays.fill(out, Float.NaN); // every output must be written
        kernel.forward(c.p(), c.q(), c.k(), c.v(), out, pool);
        return out;
    }

    /** Largest |a - b|, or infinity if either has a NaN where the other does not match it. */
    private static double maxAbsDiff(float[] a, float[] b) {
        double worst = 0;
        for (int i = 0; i < a.length; i++) {
            double diff = Math.abs((double) a[i] - b[i]);
            if (Double.isNaN(diff)) {
                return Double.POSITIVE_INFINITY;
            }
            worst = Math.max(worst, diff);
        }
        return worst;
    }

    private static double maxAbsDiff(float[] a, double[] b) {
        double worst = 0;
        for (int i = 0; i < a.length; i++) {
            double diff = Math.abs(a[i] - b[i]);
            if (Double.isNaN(diff)) {
                return Double.POSITIVE_INFINITY;
            }
            worst = Math.max(worst, diff);
        }
        return worst;
    }

    // ------------------------------------------------------------------------------ differential

    @Test
    void mathMatchesNaiveReference() {
        Random rnd = new Random(2024);
        List<String> failures = new ArrayList<>();
        int cases = 0;
        for (int d : HEAD_DIMS) {
            for (int heads : new int[] {1, 2}) {
                for (boolean causal : new boolean[] {false, true}) {
                    for (boolean isFused : new boolean[] {true, false}) {
                        Case c = isFused
                                ? fused(LENGTHS, heads, d, causal, 1, rnd)
                                : separate(LENGTHS, heads, d, causal, 1, rnd);
                        double diff = maxAbsDiff(run(MATH, c, threads), naive(c.p(), c.q(), c.k(), c.v()));
                        // cpu-math is exact in double, then rounded once to fp32 (outputs are below ~4).
                        if (!(diff <= 1e-6)) {
                            failures.add(c.name() + ": max |math - naive| = " + diff);
                        }
                        cases++;
                    }
                }
            }
        }
        // And a 12-head case of each layout.
        for (boolean isFused : new boolean[] {true, false}) {
            Case c = isFused ? fused(LENGTHS, 12, 32, true, 1, rnd) : separate(LENGTHS, 12, 24, false, 1, rnd);
            double diff = maxAbsDiff(run(MATH, c, threads), naive(c.p(), c.q(), c.k(), c.v()));
            if (!(diff <= 1e-6)) {
                failures.add(c.name() + ": max |math - naive| = " + diff);
            }
            cases++;
        }
        assertTrue(failures.isEmpty(), failures.size() + " of " + cases + " cases:\n" + String.join("\n", failures));
    }

    @Test
    void flashMatchesMathOverHeadDimsHeadsMasksAndLayouts() {
        Random rnd = new Random(7);
        List<String> failures = new ArrayList<>();
        double worst = 0;
        int cases = 0;
        for (int d : HEAD_DIMS) {
            for (int heads : HEADS) {
                for (boolean causal : new boolean[] {false, true}) {
                    for (boolean isFused : new boolean[] {true, false}) {
                        // Rotate the row order so that long and short rows sit at different unit boundaries.
                        int[] lengths = new int[LENGTHS.length];
                        for (int i = 0; i < lengths.length; i++) {
                            lengths[i] = LENGTHS[(i + cases) % LENGTHS.length];
                        }
                        Case c = isFused
                                ? fused(lengths, heads, d, causal, 1, rnd)
                                : separate(lengths, heads, d, causal, 1, rnd);
                        double diff = maxAbsDiff(run(FLASH, c, threads), run(MATH, c, threads));
                        worst = Math.max(worst, diff);
                        if (!(diff <= 1e-5)) {
                            failures.add(c.name() + " lengths=" + Arrays.toString(lengths) + ": max |flash - math| = "
                                    + diff);
                        }
                        cases++;
                    }
                }
            }
        }
        assertTrue(failures.isEmpty(), failures.size() + " of " + cases + " cases:\n" + String.join("\n", failures));
        assertTrue(worst > 0, "flash (fp32) and math (fp64) agreeing exactly everywhere means one is not running");
    }

    @Test
    void flashMatchesMathOnALongRow() {
        Random rnd = new Random(2048);
        for (boolean causal : new boolean[] {false, true}) {
            Case c = fused(new int[] {2048}, 1, 64, causal, 1, rnd);
            double diff = maxAbsDiff(run(FLASH, c, threads), run(MATH, c, threads));
            assertTrue(diff <= 1e-5, "N=2048 causal=" + causal + ": max |flash - math| = " + diff);
        }
    }

    @Test
    void rowsOfLengthZeroAnywhereInTheBatch() {
        Random rnd = new Random(0);
        int[][] batches = {
            {0, 5, 0, 0, 40, 0, 33},
            {0, 0, 3},
            {3, 0},
            {70, 0, 0},
            {0},
            {0, 0, 0},
        };
        for (int[] lengths : batches) {
            for (boolean causal : new boolean[] {false, true}) {
                Case c = separate(lengths, 2, 16, causal, 1, rnd);
                double[] expected = naive(c.p(), c.q(), c.k(), c.v());
                int used = c.p().totalTokens() * c.p().outWidth();
                for (AttentionKernel kernel : new AttentionKernel[] {MATH, FLASH}) {
                    float[] out = new float[used + 50];
                    Arrays.fill(out, -99f);
                    kernel.forward(c.p(), c.q(), c.k(), c.v(), out, threads);
                    String where = kernel.path() + " lengths=" + Arrays.toString(lengths) + " causal=" + causal;
                    for (int i = 0; i < used; i++) {
                        assertEquals(expected[i], out[i], 1e-5, where + " at " + i);
                    }
                    for (int i = used; i < out.length; i++) {
                        assertEquals(-99f, out[i], 0f, where + ": wrote past the last token at " + i);
                    }
                }
            }
        }
    }

    @Test
    void extremeScoresStayFiniteAndMatchMath() {
        Random rnd = new Random(30);
        for (boolean causal : new boolean[] {false, true}) {
            for (int d : new int[] {16, 64, 128}) {
                Case c = fused(new int[] {1, 17, 64, 100}, 2, d, causal, 30, rnd);
                float[] math = run(MATH, c, threads);
                float[] flash = run(FLASH, c, threads);
                double maxAbs = 0;
                for (int i = 0; i < flash.length; i++) {
                    assertTrue(Float.isFinite(flash[i]), "flash output not finite at " + i);
                    assertTrue(Float.isFinite(math[i]), "math output not finite at " + i);
                    maxAbs = Math.max(maxAbs, Math.abs(math[i]));
                }
                double diff = maxAbsDiff(flash, math);
                assertTrue(
                        diff <= 1e-4 * maxAbs,
                        "d=" + d + " causal=" + causal + ": max |flash - math| = " + diff + " for outputs up to "
                                + maxAbs);
            }
        }
    }

    @Test
    void resultDoesNotDependOnTheThreadCount() {
        Random rnd = new Random(3);
        Case c = separate(LENGTHS, 3, 40, true, 1, rnd);
        try (CpuThreads one = CpuThreads.single();
                CpuThreads three = new CpuThreads(3);
                CpuThreads five = new CpuThreads(5)) {
            for (AttentionKernel kernel : new AttentionKernel[] {MATH, FLASH}) {
                float[] a = run(kernel, c, one);
                assertArrayEquals(a, run(kernel, c, three), kernel.path() + " 1 vs 3 threads");
                assertArrayEquals(a, run(kernel, c, five), kernel.path() + " 1 vs 5 threads");
            }
        }
    }

    @Test
    void pathNames() {
        assertEquals("cpu-math", MATH.path());
        assertEquals("cpu-flash", FLASH.path());
    }

    // ------------------------------------------------------------------------------ workspace

    @Test
    void workspaceGrowsQuadraticallyForMathAndLinearlyForFlash() {
        AttentionProblem small = AttentionProblem.fusedQkv(new int[] {0, 1024}, 1, 64, false);
        AttentionProblem large = AttentionProblem.fusedQkv(new int[] {0, 16384}, 1, 64, false);
        double flashRatio = (double) FLASH.workspaceBytes(large, 1) / FLASH.workspaceBytes(small, 1);
        double mathRatio = (double) MATH.workspaceBytes(large, 1) / MATH.workspaceBytes(small, 1);
        assertTrue(flashRatio < 20, "flash workspace grows by " + flashRatio + " for 16x the tokens");
        assertTrue(mathRatio > 200, "math workspace grows by " + mathRatio + " for 16x the tokens");
        // More threads than units of work do not add workspace; more units do, up to the thread count.
        assertEquals(MATH.workspaceBytes(small, 1), MATH.workspaceBytes(small, 8));
        AttentionProblem twoRows = AttentionProblem.fusedQkv(new int[] {0, 1024, 2048}, 4, 64, false);
        assertEquals(4 * MATH.workspaceBytes(twoRows, 1), MATH.workspaceBytes(twoRows, 4));
        assertEquals(4 * FLASH.workspaceBytes(twoRows, 1), FLASH.workspaceBytes(twoRows, 4));
    }

    @Test
    void workspaceBytesMatchesWhatOneCallAllocates() {
        java.lang.management.ThreadMXBean bean = ManagementFactory.getThreadMXBean();
        Assumptions.assumeTrue(bean instanceof com.sun.management.ThreadMXBean
                && ((com.sun.management.ThreadMXBean) bean).isThreadAllocatedMemorySupported());
        com.sun.management.ThreadMXBean mx = (com.sun.management.ThreadMXBean) bean;
        Random rnd = new Random(5);
        try (CpuThreads one = CpuThreads.single()) {
            Object[][] kernels = {{MATH, 600}, {FLASH, 4000}};
            for (Object[] kn : kernels) {
                AttentionKernel kernel = (AttentionKernel) kn[0];
                int n = (Integer) kn[1];
                Case c = fused(new int[] {n / 3, n, 7}, 2, 64, false, 1, rnd);
                float[] out = new float[c.p().totalTokens() * c.p().outWidth()];
                // The fewest bytes of several calls: the first ones run before C2 has compiled the
                // kernel (each of its register tiles, the rarer tail tiles last), when the Vector
                // API's fallback boxes every vector. Stops once a call matches.
                long declared = kernel.workspaceBytes(c.p(), 1);
                long allocated = Long.MAX_VALUE;
                for (int call = 0; call < 40 && Math.abs(allocated - declared) > 0.001 * declared + 4096; call++) {
                    long before = mx.getCurrentThreadAllocatedBytes();
                    kernel.forward(c.p(), c.q(), c.k(), c.v(), out, one);
                    allocated = Math.min(allocated, mx.getCurrentThreadAllocatedBytes() - before);
                }
                // Slack for the call's own small objects (unit table, lambda, array headers) only.
                assertTrue(
                        Math.abs(allocated - declared) <= 0.001 * declared + 4096,
                        kernel.path() + ": declared " + declared + " bytes, allocated " + allocated);
            }
        }
    }

    // ------------------------------------------------------------------------------ argument checks

    @Test
    void invalidProblemsAreRefused() {
        assertThrows(IllegalArgumentException.class, () -> AttentionProblem.fusedQkv(new int[] {1, 5}, 1, 8, false));
        assertThrows(IllegalArgumentException.class, () -> AttentionProblem.fusedQkv(new int[] {0, 5, 4}, 1, 8, false));
        assertThrows(IllegalArgumentException.class, () -> AttentionProblem.fusedQkv(new int[] {0}, 1, 8, false));
        assertThrows(IllegalArgumentException.class, () -> AttentionProblem.fusedQkv(new int[0], 1, 8, false));
        assertThrows(IllegalArgumentException.class, () -> AttentionProblem.fusedQkv(null, 1, 8, false));
        assertThrows(IllegalArgumentException.class, () -> AttentionProblem.fusedQkv(new int[] {0, 5}, 0, 8, false));
        assertThrows(IllegalArgumentException.class, () -> AttentionProblem.fusedQkv(new int[] {0, 5}, 1, 0, false));
        int[] cu = {0, 4};
        // Width 16 (2 heads of 8) in a row of 40: offsets up to 24 fit, 25 does not; negative never.
        new AttentionProblem(cu, 2, 8, false, 1f, 40, 24, 0, 12);
        assertThrows(IllegalArgumentException.class, () -> new AttentionProblem(cu, 2, 8, false, 1f, 40, 25, 0, 0));
        assertThrows(IllegalArgumentException.class, () -> new AttentionProblem(cu, 2, 8, false, 1f, 40, 0, 25, 0));
        assertThrows(IllegalArgumentException.class, () -> new AttentionProblem(cu, 2, 8, false, 1f, 40, 0, 0, 25));
        assertThrows(IllegalArgumentException.class, () -> new AttentionProblem(cu, 2, 8, false, 1f, 40, -1, 0, 0));
        assertThrows(IllegalArgumentException.class, () -> new AttentionProblem(cu, 2, 8, false, 1f, 40, 0, -1, 0));
        assertThrows(IllegalArgumentException.class, () -> new AttentionProblem(cu, 2, 8, false, 1f, 40, 0, 0, -1));
        assertThrows(IllegalArgumentException.class, () -> new AttentionProblem(cu, 2, 8, false, 1f, 15, 0, 0, 0));
    }

    @Test
    void problemDescribesItsShape() {
        int[] cu = {0, 3, 3, 10};
        AttentionProblem p = AttentionProblem.fusedQkv(cu, 4, 16, true);
        cu[1] = 99; // the problem keeps its own copy
        assertEquals(3, p.batch());
        assertEquals(10, p.totalTokens());
        assertEquals(3, p.seqLen(0));
        assertEquals(0, p.seqLen(1));
        assertEquals(7, p.seqLen(2));
        assertEquals(7, p.maxSeqLen());
        assertEquals(64, p.outWidth());
        assertEquals(192, p.rowStride());
        assertEquals(0, p.qOffset());
        assertEquals(64, p.kOffset());
        assertEquals(128, p.vOffset());
        assertEquals(0.25f, p.scale());
        assertEquals(p, AttentionProblem.fusedQkv(new int[] {0, 3, 3, 10}, 4, 16, true));
        assertEquals(
                p.hashCode(),
                AttentionProblem.fusedQkv(new int[] {0, 3, 3, 10}, 4, 16, true).hashCode());
        assertTrue(!p.equals(AttentionProblem.fusedQkv(new int[] {0, 3, 3, 10}, 4, 16, false)));
    }

    @Test
    void buffersTooSmallAreRefusedBeforeAnythingIsWritten() {
        Random rnd = new Random(11);
        Case c = fused(new int[] {5, 9}, 2, 8, false, 1, rnd);
        AttentionProblem p = c.p();
        int outLen = p.totalTokens() * p.outWidth();
        int inLen = p.totalTokens() * p.rowStride();
        for (AttentionKernel kernel : new AttentionKernel[] {MATH, FLASH}) {
            float[] shortOut = new float[outLen - 1];
            Arrays.fill(shortOut, 42f);
            assertThrows(
                    IllegalArgumentException.class,
                    () -> kernel.forward(p, c.q(), c.k(), c.v(), shortOut, threads),
                    kernel.path());
            for (float f : shortOut) {
                assertEquals(42f, f, 0f, kernel.path() + " wrote into a buffer it refused");
            }
            float[] shortIn = Arrays.copyOf(c.q(), inLen - 1);
            float[] out = new float[outLen];
            Arrays.fill(out, 42f);
            assertThrows(
                    IllegalArgumentException.class,
                    () -> kernel.forward(p, shortIn, c.k(), c.v(), out, threads),
                    kernel.path() + " short Q");
            assertThrows(
                    IllegalArgumentException.class,
                    () -> kernel.forward(p, c.q(), shortIn, c.v(), out, threads),
                    kernel.path() + " short K");
            assertThrows(
                    IllegalArgumentException.class,
                    () -> kernel.forward(p, c.q(), c.k(), shortIn, out, threads),
                    kernel.path() + " short V");
            for (float f : out) {
                assertEquals(42f, f, 0f, kernel.path() + " wrote although an input was too small");
            }
        }
    }
}

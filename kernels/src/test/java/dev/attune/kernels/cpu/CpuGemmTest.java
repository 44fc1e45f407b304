package dev.attune.kernels.cpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * {@code Y = X · W + bias}: the portable and the Vector API kernels, and the {@link CpuGemm} entry
 * points, on (K, N) and on (N, K) weights, against a double-precision reference over many shapes
 * (including ones that leave partial register tiles, vector tails, K chunks and column panels),
 * with and without bias; a kernel call on a block of rows and columns leaves every other output
 * untouched; the two weight layouts give the same result bit for bit; buffers too small for the shape are
 * refused; the multithreaded result equals the single-threaded one bit for bit.
 */
class CpuGemmTest {

    private static final int[] MS = {1, 2, 3, 4, 5, 7, 12, 13, 97};
    private static final int[] KS = {1, 3, 16, 128, 129, 384, 385, 1100}; // 1100: nine K chunks of the vector kernel
    private static final int[] NS = {1, 5, 15, 16, 17, 47, 48, 49, 96, 100, 1152};

    /** A kernel under test: either one implementation called on all rows, or the entry point. */
    private interface Gemm {
        void run(float[] x, int m, int k, float[] w, int n, float[] bias, float[] y);
    }

    private static Gemm implementation(String name, CpuThreads threads) {
        return switch (name) {
            case "scalar" -> (x, m, k, w, n, bias, y) -> whole(new ScalarGemmKernel(), x, m, k, w, false, n, bias, y);
            case "vector" -> (x, m, k, w, n, bias, y) -> whole(new VectorGemmKernel(), x, m, k, w, false, n, bias, y);
            case "scalar-transposed" ->
                (x, m, k, w, n, bias, y) ->
                        whole(new ScalarGemmKernel(), x, m, k, transpose(w, k, n), true, n, bias, y);
            case "vector-transposed" ->
                (x, m, k, w, n, bias, y) ->
                        whole(new VectorGemmKernel(), x, m, k, transpose(w, k, n), true, n, bias, y);
            case "scalar-few" ->
                (x, m, k, w, n, bias, y) -> new ScalarGemmKernel().fewRows(x, m, k, w, n, bias, y, 0, n);
            case "vector-few" ->
                (x, m, k, w, n, bias, y) -> new VectorGemmKernel().fewRows(x, m, k, w, n, bias, y, 0, n);
            case "entry" -> (x, m, k, w, n, bias, y) -> CpuGemm.matmul(x, m, k, w, n, bias, y, threads);
            case "entry-transposed" ->
                (x, m, k, w, n, bias, y) -> {
                    // No bias on this entry point: added afterwards (the tolerance covers the order).
                    CpuGemm.matmulTransposed(x, m, k, transpose(w, k, n), n, y, threads);
                    for (int i = 0; bias != null && i < m * n; i++) {
                        y[i] += bias[i % n];
                    }
                };
            default -> throw new IllegalArgumentException(name);
        };
    }

    /** One kernel over all rows, one column panel at a time, as the entry point splits a product. */
    private static void whole(
            GemmKernel kernel, float[] x, int m, int k, float[] w, boolean transposed, int n, float[] bias, float[] y) {
        float[] scratch = new float[kernel.scratchFloats()];
        for (int c0 = 0; c0 < n; c0 += kernel.panelWidth()) {
            kernel.block(
                    x, k, w, null, transposed, n, bias, y, 0, m, c0, Math.min(n, c0 + kernel.panelWidth()), scratch);
        }
    }

    /** As {@link #whole} over bf16 weights. */
    private static void wholeBf16(
            GemmKernel kernel, float[] x, int m, int k, short[] w, boolean transposed, int n, float[] bias, float[] y) {
        float[] scratch = new float[kernel.scratchFloats()];
        for (int c0 = 0; c0 < n; c0 += kernel.panelWidth()) {
            kernel.block(
                    x, k, null, w, transposed, n, bias, y, 0, m, c0, Math.min(n, c0 + kernel.panelWidth()), scratch);
        }
    }

    /** Random bf16 patterns of finite values in about [-2, 2], and, in {@code widened}, their fp32 values. */
    private static short[] randomBf16(Random rnd, int size, float[] widened) {
        short[] b = new short[size];
        for (int i = 0; i < size; i++) {
            b[i] = (short) (Float.floatToRawIntBits((float) (rnd.nextGaussian())) >>> 16);
            widened[i] = Float.intBitsToFloat(b[i] << 16);
        }
        return b;
    }

    private static short[] transposeBf16(short[] w, int k, int n) {
        short[] t = new short[w.length];
        for (int p = 0; p < k; p++) {
            for (int c = 0; c < n; c++) {
                t[c * k + p] = w[p * n + c];
            }
        }
        return t;
    }

    /**
     * bf16 weights read in place give, bit for bit, the fp32 product over the same weights widened:
     * every kernel and layout, the few-rows path and the block path, the entry points at several
     * thread counts, shapes with vector tails and partial panels.
     */
    @Test
    void bf16WeightsGiveTheFp32ProductOfTheirWidenedValuesBitForBit() {
        Random rnd = new Random(16);
        try (CpuThreads threads = new CpuThreads(2)) {
            for (int[] shape :
                    new int[][] {{1, 2048, 2560}, {3, 129, 1025}, {4, 7, 17}, {5, 385, 100}, {97, 130, 49}}) {
                int m = shape[0];
                int k = shape[1];
                int n = shape[2];
                String where = "M=" + m + " K=" + k + " N=" + n;
                float[] x = random(rnd, m * k);
                float[] w = new float[k * n];
                short[] wb = randomBf16(rnd, k * n, w);
                float[] bias = random(rnd, n);
                float[] expected = new float[m * n];
                CpuGemm.matmul(x, m, k, w, n, bias, expected, threads);
                float[] y = new float[m * n];
                CpuGemm.matmulBf16(x, m, k, wb, n, bias, y, threads);
                assertArrayEquals(expected, y, "entry " + where);
                float[] yt = new float[m * n];
                float[] yt32 = new float[m * n];
                CpuGemm.matmulTransposedBf16(x, m, k, transposeBf16(wb, k, n), n, yt, threads);
                CpuGemm.matmulTransposed(x, m, k, transpose(w, k, n), n, yt32, threads);
                assertArrayEquals(yt32, yt, "entry transposed " + where);
                for (GemmKernel kernel : new GemmKernel[] {new ScalarGemmKernel(), new VectorGemmKernel()}) {
                    String name = kernel.getClass().getSimpleName() + " " + where;
                    float[] e = new float[m * n];
                    float[] b = new float[m * n];
                    whole(kernel, x, m, k, w, false, n, bias, e);
                    wholeBf16(kernel, x, m, k, wb, false, n, bias, b);
                    assertArrayEquals(e, b, name + " block");
                    whole(kernel, x, m, k, transpose(w, k, n), true, n, bias, e);
                    wholeBf16(kernel, x, m, k, transposeBf16(wb, k, n), true, n, bias, b);
                    assertArrayEquals(e, b, name + " block transposed");
                    kernel.fewRows(x, m, k, w, n, bias, e, 0, n);
                    kernel.fewRowsBf16(x, m, k, wb, n, bias, b, 0, n);
                    assertArrayEquals(e, b, name + " few rows");
                }
            }
            try (CpuThreads one = CpuThreads.single()) {
                float[] x = random(rnd, 2 * 300);
                float[] w = new float[300 * 999];
                short[] wb = randomBf16(rnd, w.length, w);
                float[] y1 = new float[2 * 999];
                float[] y2 = new float[2 * 999];
                CpuGemm.matmulBf16(x, 2, 300, wb, 999, null, y1, one);
                CpuGemm.matmulBf16(x, 2, 300, wb, 999, null, y2, threads);
                assertArrayEquals(y1, y2, "one thread and two");
            }
            assertThrows(
                    IllegalArgumentException.class,
                    () -> CpuGemm.matmulBf16(new float[6], 2, 3, new short[11], 4, null, new float[8], threads));
        }
    }

    /** (K, N) to (N, K). */
    private static float[] transpose(float[] w, int k, int n) {
        float[] t = new float[w.length];
        for (int p = 0; p < k; p++) {
            for (int c = 0; c < n; c++) {
                t[c * k + p] = w[p * n + c];
            }
        }
        return t;
    }

    private static float[] random(Random rnd, int size) {
        float[] a = new float[size];
        for (int i = 0; i < size; i++) {
            a[i] = (float) (rnd.nextDouble() * 2 - 1);
        }
        return a;
    }

    /** Reference in double; {@code abs} receives Σ|x·w| + |bias| per output, the scale of its rounding error. */
    private static double[] reference(float[] x, int m, int k, float[] w, int n, float[] bias, double[] abs) {
        double[] y = new double[m * n];
        for (int r = 0; r < m; r++) {
            for (int c = 0; c < n; c++) {
                double s = bias == null ? 0 : bias[c];
                double a = Math.abs(s);
                for (int p = 0; p < k; p++) {
                    double t = (double) x[r * k + p] * w[p * n + c];
                    s += t;
                    a += Math.abs(t);
                }
                y[r * n + c] = s;
                abs[r * n + c] = a;
            }
        }
        return y;
    }

    @ParameterizedTest
    @ValueSource(
            strings = {
                "scalar",
                "vector",
                "entry",
                "scalar-transposed",
                "vector-transposed",
                "entry-transposed",
                "scalar-few",
                "vector-few"
            })
    void matchesDoubleReferenceOverManyShapes(String name) {
        Random rnd = new Random(42);
        List<String> failures = new ArrayList<>();
        try (CpuThreads threads = new CpuThreads(2)) {
            Gemm gemm = implementation(name, threads);
            for (int m : MS) {
                for (int k : KS) {
                    for (int n : NS) {
                        float[] x = random(rnd, m * k);
                        float[] w = random(rnd, k * n);
                        float[] bias = random(rnd, n);
                        for (boolean withBias : new boolean[] {false, true}) {
                            float[] b = withBias ? bias : null;
                            double[] abs = new double[m * n];
                            double[] expected = reference(x, m, k, w, n, b, abs);
                            float[] y = new float[m * n];
                            Arrays.fill(y, Float.NaN); // the kernel must overwrite, not accumulate into, Y
                            gemm.run(x, m, k, w, n, b, y);
                            for (int i = 0; i < m * n; i++) {
                                // Relative 1e-5 of the magnitude of the summed terms (the forward
                                // error bound of an fp32 sum grows with K; in practice it stays far below).
                                double tol = 1e-5 * abs[i] + 1e-7;
                                if (!(Math.abs(y[i] - expected[i]) <= tol)) {
                                    failures.add(name + " M=" + m + " K=" + k + " N=" + n + " bias=" + withBias
                                            + " at (" + i / n + ", " + i % n + "): " + y[i] + " vs " + expected[i]);
                                    break;
                                }
                            }
                        }
                    }
                }
            }
        }
        if (!failures.isEmpty()) {
            fail(failures.size() + " shapes wrong, first: "
                    + String.join("\n", failures.subList(0, Math.min(10, failures.size()))));
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"scalar", "vector"})
    void blockWritesOnlyItsRowsAndColumns(String name) {
        GemmKernel kernel = name.equals("scalar") ? new ScalarGemmKernel() : new VectorGemmKernel();
        Random rnd = new Random(7);
        int m = 210;
        int width = kernel.panelWidth();
        for (int k : new int[] {1, 17, 130}) {
            for (int n : new int[] {5, 49, 300}) {
                float[] x = random(rnd, m * k);
                float[] w = random(rnd, k * n);
                float[] bias = random(rnd, n);
                float[] full = new float[m * n];
                whole(kernel, x, m, k, w, false, n, bias, full);
                int[][] rowRanges = {{0, 0}, {0, 1}, {3, 10}, {5, 6}, {4, 8}, {1, 200}, {97, 210}, {209, 210}};
                int[][] colRanges = {
                    {0, Math.min(n, width)}, {1, Math.min(n, 4)}, {n - 1, n}, {Math.max(0, n - width), n}
                };
                for (int[] rows : rowRanges) {
                    for (int[] cols : colRanges) {
                        float[] y = new float[m * n];
                        float sentinel = -777.25f;
                        Arrays.fill(y, sentinel);
                        kernel.block(
                                x,
                                k,
                                w,
                                null,
                                false,
                                n,
                                bias,
                                y,
                                rows[0],
                                rows[1],
                                cols[0],
                                cols[1],
                                new float[kernel.scratchFloats()]);
                        for (int r = 0; r < m; r++) {
                            for (int c = 0; c < n; c++) {
                                float v = y[r * n + c];
                                String where = name + " K=" + k + " N=" + n + " rows " + Arrays.toString(rows)
                                        + " cols " + Arrays.toString(cols) + " at (" + r + ", " + c + ")";
                                if (r >= rows[0] && r < rows[1] && c >= cols[0] && c < cols[1]) {
                                    // Outputs do not depend on which other rows and columns share the call.
                                    assertEquals(full[r * n + c], v, 0f, where);
                                } else if (v != sentinel) {
                                    fail(where + ": output outside the block was written");
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    @Test
    void fewRowsGiveWhatTheBlockKernelGivesBitForBit() {
        Random rnd = new Random(6);
        try (CpuThreads threads = new CpuThreads(2)) {
            for (int m = 1; m <= CpuGemm.FEW_ROWS; m++) {
                for (int[] kn : new int[][] {{2048, 2560}, {300, 1025}, {7, 17}}) {
                    int k = kn[0];
                    int n = kn[1];
                    float[] x = random(rnd, m * k);
                    float[] w = random(rnd, k * n);
                    float[] bias = random(rnd, n);
                    float[] few = new float[m * n];
                    float[] blocked = new float[m * n];
                    CpuGemm.matmul(x, m, k, w, n, bias, few, threads); // the few-rows path
                    whole(new VectorGemmKernel(), x, m, k, w, false, n, bias, blocked);
                    assertArrayEquals(blocked, few, "M=" + m + " K=" + k + " N=" + n);
                }
            }
        }
    }

    /** Products of a few dozen rows run in strips of panels, K chunk outermost: the same bits as panel by panel. */
    @Test
    void stripsGiveWhatPanelByPanelGivesBitForBit() {
        Random rnd = new Random(61);
        try (CpuThreads threads = new CpuThreads(2)) {
            for (int[] shape :
                    new int[][] {{5, 300, 4100}, {16, 2048, 2100}, {64, 129, 97}, {65, 64, 1000}, {9, 0, 50}}) {
                int m = shape[0];
                int k = shape[1];
                int n = shape[2];
                float[] x = random(rnd, m * k);
                float[] w = new float[k * n];
                short[] wb = randomBf16(rnd, k * n, w);
                float[] bias = random(rnd, n);
                for (boolean transposed : new boolean[] {false, true}) {
                    String where = "M=" + m + " K=" + k + " N=" + n + (transposed ? " transposed" : "");
                    float[] expected = new float[m * n];
                    whole(
                            new VectorGemmKernel(),
                            x,
                            m,
                            k,
                            transposed ? transpose(w, k, n) : w,
                            transposed,
                            n,
                            transposed ? null : bias,
                            expected);
                    float[] y = new float[m * n];
                    float[] yb = new float[m * n];
                    if (transposed) {
                        CpuGemm.matmulTransposed(x, m, k, transpose(w, k, n), n, y, threads);
                        CpuGemm.matmulTransposedBf16(x, m, k, transposeBf16(wb, k, n), n, yb, threads);
                    } else {
                        CpuGemm.matmul(x, m, k, w, n, bias, y, threads);
                        CpuGemm.matmulBf16(x, m, k, wb, n, bias, yb, threads);
                    }
                    assertArrayEquals(expected, y, where);
                    assertArrayEquals(expected, yb, where + " bf16");
                }
            }
        }
    }

    @Test
    void transposedWeightsGiveTheSameResultBitForBit() {
        Random rnd = new Random(5);
        try (CpuThreads threads = new CpuThreads(2)) {
            for (int[] shape : new int[][] {{127, 300, 1000}, {3, 2048, 49}, {200, 64, 7}}) {
                int m = shape[0];
                int k = shape[1];
                int n = shape[2];
                float[] x = random(rnd, m * k);
                float[] w = random(rnd, k * n);
                float[] y = new float[m * n];
                float[] yt = new float[m * n];
                CpuGemm.matmul(x, m, k, w, n, null, y, threads);
                CpuGemm.matmulTransposed(x, m, k, transpose(w, k, n), n, yt, threads);
                assertArrayEquals(y, yt, "M=" + m + " K=" + k + " N=" + n);
            }
        }
    }

    @Test
    void buffersTooSmallForTheShapeAreRefused() {
        float[] x = new float[6];
        float[] w = new float[12];
        float[] bias = new float[4];
        float[] y = new float[8];
        try (CpuThreads threads = CpuThreads.single()) {
            CpuGemm.matmul(x, 2, 3, w, 4, bias, y, threads); // fits
            CpuGemm.matmul(x, 2, 3, w, 4, null, y, threads);
            assertThrows(
                    IllegalArgumentException.class, () -> CpuGemm.matmul(new float[5], 2, 3, w, 4, bias, y, threads));
            assertThrows(
                    IllegalArgumentException.class, () -> CpuGemm.matmul(x, 2, 3, new float[11], 4, bias, y, threads));
            assertThrows(IllegalArgumentException.class, () -> CpuGemm.matmul(x, 2, 3, w, 4, new float[3], y, threads));
            float[] small = new float[7];
            Arrays.fill(small, 9f);
            assertThrows(IllegalArgumentException.class, () -> CpuGemm.matmul(x, 2, 3, w, 4, bias, small, threads));
            float[] untouched = new float[7];
            Arrays.fill(untouched, 9f);
            assertArrayEquals(untouched, small, "nothing written before the check");
        }
    }

    @Test
    void multithreadedEqualsSingleThreadedBitForBit() {
        Random rnd = new Random(99);
        try (CpuThreads one = CpuThreads.single();
                CpuThreads three = new CpuThreads(3)) {
            for (int[] shape :
                    new int[][] {{97, 385, 100}, {13, 16, 1152}, {40, 64, 49}, {1, 3, 5}, {250, 33, 96}, {400, 130, 200}
                    }) {
                int m = shape[0];
                int k = shape[1];
                int n = shape[2];
                float[] x = random(rnd, m * k);
                float[] w = random(rnd, k * n);
                float[] bias = random(rnd, n);
                float[] y1 = new float[m * n];
                float[] y3 = new float[m * n];
                CpuGemm.matmul(x, m, k, w, n, bias, y1, one);
                CpuGemm.matmul(x, m, k, w, n, bias, y3, three);
                for (int i = 0; i < m * n; i++) {
                    if (Float.floatToRawIntBits(y1[i]) != Float.floatToRawIntBits(y3[i])) {
                        fail("M=" + m + " K=" + k + " N=" + n + " differs at " + i + ": " + y1[i] + " vs " + y3[i]);
                    }
                }
            }
        }
    }

    @Test
    void entryPointUsesTheVectorKernelWhenItsModuleIsPresent() {
        boolean vector = !Boolean.getBoolean("attune.cpu.scalar")
                && ModuleLayer.boot().findModule("jdk.incubator.vector").isPresent();
        assertEquals(vector, CpuGemm.vectorApiAvailable());
        assertEquals(vector ? "vector-api" : "scalar", CpuGemm.kernelName());
        assertTrue(
                ModuleLayer.boot().findModule("jdk.incubator.vector").isPresent(),
                "surefire is meant to run with --add-modules jdk.incubator.vector");
    }

    @Test
    void emptyShapesWriteNothing() {
        try (CpuThreads threads = new CpuThreads(2)) {
            float[] y = {5f, 6f};
            CpuGemm.matmul(new float[0], 0, 4, new float[8], 2, null, y, threads);
            assertArrayEquals(new float[] {5f, 6f}, y);
            // K = 0: Y is the bias (or zero).
            float[] y2 = new float[6];
            Arrays.fill(y2, 3f);
            CpuGemm.matmul(new float[0], 3, 0, new float[0], 2, new float[] {1f, -2f}, y2, threads);
            assertArrayEquals(new float[] {1f, -2f, 1f, -2f, 1f, -2f}, y2);
            CpuGemm.matmul(new float[0], 3, 0, new float[0], 2, null, y2, threads);
            assertArrayEquals(new float[6], y2);
            Arrays.fill(y2, 3f);
            whole(new ScalarGemmKernel(), new float[0], 3, 0, new float[0], false, 2, new float[] {1f, -2f}, y2);
            assertArrayEquals(new float[] {1f, -2f, 1f, -2f, 1f, -2f}, y2);
        }
    }
}

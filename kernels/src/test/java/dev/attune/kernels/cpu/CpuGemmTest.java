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
 * {@code Y = X · W + bias}: the portable and the Vector API kernels (their panel tiles and their
 * single-row streaming path), and the {@link CpuGemm} entry points, over weights packed from (K, N)
 * and from (N, K), fp32 and bf16, against a double-precision reference over many shapes (including
 * ones that leave partial register tiles, partial panels and K chunks), with and without bias; a
 * kernel call on one panel and a range of rows leaves every other output untouched; layouts,
 * precisions (over the same values), row counts and thread counts give the same result bit for
 * bit; buffers too small for the shape are refused.
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
            case "vector-wide" ->
                (x, m, k, w, n, bias, y) -> whole(new VectorGemmKernel(false), x, m, k, w, false, n, bias, y);
            case "vector-narrow" ->
                (x, m, k, w, n, bias, y) -> whole(new VectorGemmKernel(true), x, m, k, w, false, n, bias, y);
            case "scalar-transposed" ->
                (x, m, k, w, n, bias, y) ->
                        whole(new ScalarGemmKernel(), x, m, k, transpose(w, k, n), true, n, bias, y);
            case "vector-transposed" ->
                (x, m, k, w, n, bias, y) ->
                        whole(new VectorGemmKernel(), x, m, k, transpose(w, k, n), true, n, bias, y);
            case "scalar-row" -> (x, m, k, w, n, bias, y) -> rowByRow(new ScalarGemmKernel(), x, m, k, w, n, bias, y);
            case "vector-row" -> (x, m, k, w, n, bias, y) -> rowByRow(new VectorGemmKernel(), x, m, k, w, n, bias, y);
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

    /** One kernel over all rows, one panel at a time, as the entry point splits a product. */
    private static void whole(
            GemmKernel kernel, float[] x, int m, int k, float[] w, boolean transposed, int n, float[] bias, float[] y) {
        panels(kernel, x, m, PanelMatrix.pack(w, k, n, transposed, kernel.pairLanes()), bias, y);
    }

    /** As {@link #whole} over bf16 weights. */
    private static void wholeBf16(
            GemmKernel kernel, float[] x, int m, int k, short[] w, boolean transposed, int n, float[] bias, float[] y) {
        panels(kernel, x, m, PanelMatrix.packBf16(w, k, n, transposed, kernel.pairLanes()), bias, y);
    }

    private static void panels(GemmKernel kernel, float[] x, int m, PanelMatrix w, float[] bias, float[] y) {
        for (int j = 0; j < w.panelCount(); j++) {
            kernel.panel(x, w.rows(), w, bias, y, 0, m, j);
        }
    }

    /** Each row through the kernel's single-row path ({@link GemmKernel#row}) over all panels at once. */
    private static void rowByRow(
            GemmKernel kernel, float[] x, int m, int k, float[] w, int n, float[] bias, float[] y) {
        rows(kernel, x, m, PanelMatrix.pack(w, k, n, false, kernel.pairLanes()), bias, y);
    }

    private static void rows(GemmKernel kernel, float[] x, int m, PanelMatrix w, float[] bias, float[] y) {
        int k = w.rows();
        int n = w.cols();
        float[] xr = new float[k];
        float[] yr = new float[n];
        for (int r = 0; r < m; r++) {
            System.arraycopy(x, r * k, xr, 0, k);
            kernel.row(xr, k, w, bias, yr, 0, w.panelCount());
            System.arraycopy(yr, 0, y, r * n, n);
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
                for (GemmKernel kernel : new GemmKernel[] {
                    new ScalarGemmKernel(), new VectorGemmKernel(false), new VectorGemmKernel(true)
                }) {
                    String name = kernel.getClass().getSimpleName() + " " + where;
                    float[] e = new float[m * n];
                    float[] b = new float[m * n];
                    whole(kernel, x, m, k, w, false, n, bias, e);
                    wholeBf16(kernel, x, m, k, wb, false, n, bias, b);
                    assertArrayEquals(e, b, name + " block");
                    whole(kernel, x, m, k, transpose(w, k, n), true, n, bias, e);
                    wholeBf16(kernel, x, m, k, transposeBf16(wb, k, n), true, n, bias, b);
                    assertArrayEquals(e, b, name + " block transposed");
                    rows(kernel, x, m, PanelMatrix.pack(w, k, n, false, kernel.pairLanes()), bias, e);
                    rows(kernel, x, m, PanelMatrix.packBf16(wb, k, n, false, kernel.pairLanes()), bias, b);
                    assertArrayEquals(e, b, name + " single rows");
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
                "vector-wide",
                "vector-narrow",
                "entry",
                "scalar-transposed",
                "vector-transposed",
                "entry-transposed",
                "scalar-row",
                "vector-row"
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
    @ValueSource(strings = {"scalar", "vector-wide", "vector-narrow"})
    void aPanelWritesOnlyItsRowsAndColumns(String name) {
        GemmKernel kernel = switch (name) {
            case "scalar" -> new ScalarGemmKernel();
            case "vector-wide" -> new VectorGemmKernel(false);
            default -> new VectorGemmKernel(true);
        };
        Random rnd = new Random(7);
        int m = 210;
        for (int k : new int[] {1, 17, 130}) {
            for (int n : new int[] {5, 64, 65, 300}) {
                float[] x = random(rnd, m * k);
                float[] w = random(rnd, k * n);
                float[] bias = random(rnd, n);
                float[] full = new float[m * n];
                whole(kernel, x, m, k, w, false, n, bias, full);
                PanelMatrix packed = PanelMatrix.pack(w, k, n, false, kernel.pairLanes());
                int[][] rowRanges = {{0, 0}, {0, 1}, {3, 10}, {5, 6}, {4, 8}, {1, 200}, {97, 210}, {209, 210}};
                for (int[] rows : rowRanges) {
                    for (int j = 0; j < packed.panelCount(); j++) {
                        float[] y = new float[m * n];
                        float sentinel = -777.25f;
                        Arrays.fill(y, sentinel);
                        kernel.panel(x, k, packed, bias, y, rows[0], rows[1], j);
                        for (int r = 0; r < m; r++) {
                            for (int c = 0; c < n; c++) {
                                float v = y[r * n + c];
                                String where = name + " K=" + k + " N=" + n + " rows " + Arrays.toString(rows)
                                        + " panel " + j + " at (" + r + ", " + c + ")";
                                if (r >= rows[0] && r < rows[1] && c / PanelMatrix.WIDTH == j) {
                                    // Outputs do not depend on which other rows and columns share the call.
                                    assertEquals(full[r * n + c], v, 0f, where);
                                } else if (v != sentinel) {
                                    fail(where + ": output outside the unit was written");
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /**
     * Row r of a product of M rows is, bit for bit, the product of row r alone (the single-row
     * streaming path): a decode step gives each sequence the same logits whatever else is in the
     * batch. Row counts cross the register tile (4), the row block (192), and K is chunked.
     */
    @Test
    void eachRowOfAProductIsTheProductOfThatRowAloneBitForBit() {
        Random rnd = new Random(6);
        try (CpuThreads threads = new CpuThreads(2)) {
            for (int[] kn : new int[][] {{2048, 2560}, {300, 1025}, {7, 17}, {129, 64}}) {
                int k = kn[0];
                int n = kn[1];
                float[] w = new float[k * n];
                short[] wb = randomBf16(rnd, k * n, w);
                float[] bias = random(rnd, n);
                for (PanelMatrix packed : new PanelMatrix[] {CpuGemm.pack(w, k, n), CpuGemm.packBf16(wb, k, n)}) {
                    for (int m : new int[] {2, 3, 4, 5, 16, 17, 193}) {
                        if ((long) m * k * n > 50_000_000L) {
                            continue;
                        }
                        float[] x = random(rnd, m * k);
                        float[] y = new float[m * n];
                        CpuGemm.matmul(x, m, packed, bias, y, threads);
                        for (int r = 0; r < m; r += Math.max(1, m / 5)) {
                            float[] one = new float[n];
                            CpuGemm.matmul(Arrays.copyOfRange(x, r * k, (r + 1) * k), 1, packed, bias, one, threads);
                            assertArrayEquals(
                                    one, Arrays.copyOfRange(y, r * n, (r + 1) * n), packed + " M=" + m + " row " + r);
                        }
                    }
                }
            }
        }
    }

    /**
     * Parts of rows packed as columns side by side (HF Linear weights fused) hold what packing
     * their fused (K, N) matrix holds, fp32 and bf16, and give the same products bit for bit;
     * parts that are not whole rows are refused.
     */
    @Test
    void packedColumnPartsEqualTheirFusedMatrixPacked() {
        Random rnd = new Random(12);
        int k = 70;
        int[] rows = {40, 9, 81};
        int n = 130;
        float[] fused = new float[k * n];
        short[] fusedBits = new short[k * n];
        float[][] parts = new float[rows.length][];
        short[][] bitParts = new short[rows.length][];
        int c0 = 0;
        for (int i = 0; i < rows.length; i++) {
            parts[i] = new float[rows[i] * k];
            bitParts[i] = randomBf16(rnd, rows[i] * k, parts[i]);
            for (int o = 0; o < rows[i]; o++) {
                for (int p = 0; p < k; p++) {
                    fused[p * n + c0 + o] = parts[i][o * k + p];
                    fusedBits[p * n + c0 + o] = bitParts[i][o * k + p];
                }
            }
            c0 += rows[i];
        }
        PanelMatrix[][] pairs = {
            {CpuGemm.packColumns(parts, k), CpuGemm.pack(fused, k, n)},
            {CpuGemm.packColumnsBf16(bitParts, k), CpuGemm.packBf16(fusedBits, k, n)}
        };
        try (CpuThreads threads = new CpuThreads(2)) {
            for (PanelMatrix[] pair : pairs) {
                assertEquals(k, pair[0].rows());
                assertEquals(n, pair[0].cols());
                assertArrayEquals(pair[1].toRowMajor(), pair[0].toRowMajor(), pair[0].toString());
                for (int m : new int[] {1, 5}) {
                    float[] x = random(rnd, m * k);
                    float[] a = new float[m * n];
                    float[] b = new float[m * n];
                    CpuGemm.matmul(x, m, pair[0], null, a, threads);
                    CpuGemm.matmul(x, m, pair[1], null, b, threads);
                    assertArrayEquals(b, a, pair[0] + " M=" + m);
                }
            }
        }
        assertThrows(
                IllegalArgumentException.class,
                () -> CpuGemm.packColumns(new float[][] {new float[2 * k], new float[k + 1]}, k));
        assertThrows(IllegalArgumentException.class, () -> CpuGemm.packColumnsBf16(new short[][] {new short[3]}, 0));
    }

    /** Packing keeps every value where {@link PanelMatrix#get} says, for both layouts and precisions. */
    @Test
    void packedMatricesHoldEveryValue() {
        Random rnd = new Random(3);
        for (int[] kn : new int[][] {{3, 1}, {5, 64}, {7, 65}, {2, 200}}) {
            int k = kn[0];
            int n = kn[1];
            float[] w = new float[k * n];
            short[] wb = randomBf16(rnd, k * n, w);
            for (int lanes : new int[] {4, 8, 16, 32}) {
                PanelMatrix[] all = {
                    PanelMatrix.pack(w, k, n, false, lanes),
                    PanelMatrix.pack(transpose(w, k, n), k, n, true, lanes),
                    PanelMatrix.packBf16(wb, k, n, false, lanes),
                    PanelMatrix.packBf16(transposeBf16(wb, k, n), k, n, true, lanes)
                };
                for (PanelMatrix p : all) {
                    for (int i = 0; i < k * n; i++) {
                        assertEquals(w[i], p.get(i / n, i % n), 0f, p + " lanes " + lanes + " at " + i);
                    }
                }
            }
        }
        assertThrows(IllegalArgumentException.class, () -> PanelMatrix.packBf16(new short[4], 2, 2, false, 24));
        assertThrows(IllegalArgumentException.class, () -> PanelMatrix.pack(new float[3], 2, 2, false, 16));
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
            for (GemmKernel kernel :
                    new GemmKernel[] {new ScalarGemmKernel(), new VectorGemmKernel(false), new VectorGemmKernel(true)
                    }) {
                Arrays.fill(y2, 3f);
                whole(kernel, new float[0], 3, 0, new float[0], false, 2, new float[] {1f, -2f}, y2);
                assertArrayEquals(new float[] {1f, -2f, 1f, -2f, 1f, -2f}, y2, kernel + " panels");
                float[] y1 = {3f, 3f};
                rows(
                        kernel,
                        new float[0],
                        1,
                        PanelMatrix.pack(new float[0], 0, 2, false, kernel.pairLanes()),
                        new float[] {1f, -2f},
                        y1);
                assertArrayEquals(new float[] {1f, -2f}, y1, kernel + " row");
            }
        }
    }
}

package dev.attune.kernels.cpu;

/**
 * Matrix product with bias on the CPU: {@code Y = X · W + bias}, fp32 in and out, fp32 fused
 * multiply-add accumulation.
 *
 * <p>Shapes: X (M, K), W (K, N) input-major (or (N, K) for {@link #matmulTransposed}), bias (N) or
 * null, Y (M, N); all row-major. A product of many rows is split into (row block x column panel)
 * units whose weights are packed into L1-sized panels; one of at most {@link #FEW_ROWS} rows (a
 * decode step) reads the weights in place, once. The units are spread over the given
 * {@link CpuThreads}; every output is summed in input order whatever the path and the split, so
 * the result is the same bit for bit for any thread count. The Vector API kernel is used when the
 * JVM was started with {@code --add-modules jdk.incubator.vector}; otherwise a portable kernel is.
 *
 * <p>Weights held as bf16 bit patterns (a checkpoint stored in bf16) are read as they are and
 * widened exactly in registers or as they are packed: the product is the fp32 product over the
 * widened weights, bit for bit, for half the bytes streamed.
 */
public final class CpuGemm {

    private static final GemmKernel KERNEL = pick();
    /** Rows per work unit: a (192 x K) block of X stays in L2 for K up to a few thousand. */
    private static final int ROW_BLOCK = 192;
    /** Products of at most this many rows (beyond {@link #FEW_ROWS}) run in strips of panels. */
    static final int STRIP_ROWS = 64;
    /** Panels per strip: 2,016 columns of 48, rows of 4 KB of bf16. */
    private static final int STRIP_PANELS = 42;
    /** Products of at most this many rows read the weights in place ({@link GemmKernel#fewRows}). */
    static final int FEW_ROWS = 4;
    /**
     * Columns per unit of a few-row product: each weight row segment is 4 KB of bf16 (8 KB of
     * fp32), long enough for the prefetcher to run ahead in each of the few streams a unit reads;
     * one row of Y over them is 8 KB, in L1.
     */
    private static final int FEW_ROWS_COLUMNS = 2048;

    private CpuGemm() {}

    /** The kernel in use, for logs and benchmark records. */
    public static String kernelName() {
        return KERNEL instanceof ScalarGemmKernel ? "scalar" : "vector-api";
    }

    /** {@code Y = X · W + bias} with W (K, N) input-major. */
    public static void matmul(float[] x, int m, int k, float[] w, int n, float[] bias, float[] y, CpuThreads threads) {
        run(x, m, k, w, null, false, n, bias, y, threads);
    }

    /** {@code Y = X · W + bias} with W (K, N) input-major, held as bf16 bit patterns. */
    public static void matmulBf16(
            float[] x, int m, int k, short[] w, int n, float[] bias, float[] y, CpuThreads threads) {
        run(x, m, k, null, w, false, n, bias, y, threads);
    }

    /**
     * {@code Y = X · Wᵀ} with W (N, K) output-major: an embedding table (vocabulary, hidden) used as
     * the output projection, without a transposed copy of it.
     */
    public static void matmulTransposed(float[] x, int m, int k, float[] w, int n, float[] y, CpuThreads threads) {
        run(x, m, k, w, null, true, n, null, y, threads);
    }

    /** {@code Y = X · Wᵀ} with W (N, K) output-major, held as bf16 bit patterns. */
    public static void matmulTransposedBf16(float[] x, int m, int k, short[] w, int n, float[] y, CpuThreads threads) {
        run(x, m, k, null, w, true, n, null, y, threads);
    }

    /** One of {@code w} (fp32) and {@code wBf16} is given, the other null. */
    private static void run(
            float[] x,
            int m,
            int k,
            float[] w,
            short[] wBf16,
            boolean transposed,
            int n,
            float[] bias,
            float[] y,
            CpuThreads threads) {
        if (m < 0
                || k < 0
                || n < 0
                || x.length < (long) m * k
                || (w != null ? w.length : wBf16.length) < (long) k * n
                || y.length < (long) m * n
                || (bias != null && bias.length < n)) {
            throw new IllegalArgumentException("gemm shapes do not fit their buffers: M=" + m + " K=" + k + " N=" + n);
        }
        if (m == 0 || n == 0) {
            return;
        }
        if (!transposed && m <= FEW_ROWS) {
            // A decode step: the weights' memory traffic is the cost, so they are read once, in
            // place, in column blocks handed to whichever worker is free.
            // At least one unit per thread (a 2,048-wide output must not leave a core idle), each a
            // multiple of 32 columns wide (whole vectors of bf16 pairs).
            int units = Math.max(threads.threads(), (n + FEW_ROWS_COLUMNS - 1) / FEW_ROWS_COLUMNS);
            int width = Math.max(32, ((n + units - 1) / units + 31) / 32 * 32);
            int blocks = (n + width - 1) / width;
            threads.parallelForEach(blocks, (b0, b1) -> {
                for (int b = b0; b < b1; b++) {
                    int c0 = b * width;
                    int c1 = Math.min(n, c0 + width);
                    if (w != null) {
                        KERNEL.fewRows(x, m, k, w, n, bias, y, c0, c1);
                    } else {
                        KERNEL.fewRowsBf16(x, m, k, wBf16, n, bias, y, c0, c1);
                    }
                }
            });
            return;
        }
        int width = KERNEL.panelWidth();
        int panels = (n + width - 1) / width;
        if (m <= STRIP_ROWS) {
            // A handful of rows (a decode step of many sequences): too little arithmetic per weight
            // to hide a panel's strided reads, so each unit is a strip of panels read K chunk by K
            // chunk, in long sequential segments; at least one strip per thread.
            int strips = Math.max(threads.threads(), (panels + STRIP_PANELS - 1) / STRIP_PANELS);
            int perStrip = (panels + strips - 1) / strips;
            int units = (panels + perStrip - 1) / perStrip;
            threads.parallelForEach(units, (u0, u1) -> {
                float[] scratch = new float[KERNEL.scratchFloats()];
                for (int u = u0; u < u1; u++) {
                    int c0 = u * perStrip * width;
                    KERNEL.strip(
                            x,
                            k,
                            w,
                            wBf16,
                            transposed,
                            n,
                            bias,
                            y,
                            0,
                            m,
                            c0,
                            Math.min(n, c0 + perStrip * width),
                            scratch);
                }
            });
            return;
        }
        // Work units: (block of up to ROW_BLOCK rows) x (one column panel), numbered row-block
        // first so that a worker's consecutive units share their rows of X (which stay in L2)
        // while the panels change. Each unit packs its own panel, so every weight is read from
        // memory once per row block, and the units of one product are independent: they are
        // handed to whichever worker is free, so a core taken by another process slows the
        // product by its share only.
        int rowBlocks = (m + ROW_BLOCK - 1) / ROW_BLOCK;
        threads.parallelForEach(rowBlocks * panels, (u0, u1) -> {
            float[] scratch = new float[KERNEL.scratchFloats()];
            for (int u = u0; u < u1; u++) {
                int r0 = (u / panels) * ROW_BLOCK;
                int c0 = (u % panels) * width;
                KERNEL.block(
                        x,
                        k,
                        w,
                        wBf16,
                        transposed,
                        n,
                        bias,
                        y,
                        r0,
                        Math.min(m, r0 + ROW_BLOCK),
                        c0,
                        Math.min(n, c0 + width),
                        scratch);
            }
        });
    }

    /** Whether the Vector API is usable in this JVM. */
    public static boolean vectorApiAvailable() {
        return !(KERNEL instanceof ScalarGemmKernel);
    }

    private static GemmKernel pick() {
        if (Boolean.getBoolean("attune.cpu.scalar")) {
            return new ScalarGemmKernel();
        }
        if (ModuleLayer.boot().findModule("jdk.incubator.vector").isEmpty()) {
            return new ScalarGemmKernel();
        }
        try {
            return (GemmKernel) Class.forName("dev.attune.kernels.cpu.VectorGemmKernel")
                    .getDeclaredConstructor()
                    .newInstance();
        } catch (ReflectiveOperationException | LinkageError e) {
            return new ScalarGemmKernel();
        }
    }
}

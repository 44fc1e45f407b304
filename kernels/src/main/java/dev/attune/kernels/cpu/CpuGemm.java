package dev.attune.kernels.cpu;

/**
 * Matrix product with bias on the CPU: {@code Y = X · W + bias}, fp32 in and out, fp32 fused
 * multiply-add accumulation.
 *
 * <p>Shapes: X (M, K), bias (N) or null, Y (M, N), row-major; W (K, N) packed once into column
 * panels ({@link PanelMatrix}, made by {@link #pack} and its siblings when a model's weights are
 * loaded). A product is split into (row block x panel) units spread over the given {@link
 * CpuThreads}, each panel's slice of K read from memory once per row block; a single row (a decode
 * step) streams its panels in a few long reads per thread. Every output is summed in input order
 * whatever the path and the split, so the result is the same bit for bit for any thread count,
 * row count and weight precision (bf16 weights give the fp32 product over their exact widened
 * values, for half the bytes streamed). The Vector API kernel is used when the JVM was started
 * with {@code --add-modules jdk.incubator.vector}; otherwise a portable kernel is.
 *
 * <p>The entry points over unpacked arrays pack the weights first, on every call: for tests and
 * one-off products, not for a model's weights.
 */
public final class CpuGemm {

    private static final GemmKernel KERNEL = pick();
    /** Rows per work unit: a (192 x K) block of X stays in L2 for K up to a few thousand. */
    private static final int ROW_BLOCK = 192;
    /** Panels per unit of a single-row product, at most: 32 panels of 2,048 bf16 inputs are 8 MB. */
    private static final int ROW_PANELS = 32;

    private CpuGemm() {}

    /** The kernel in use, for logs and benchmark records. */
    public static String kernelName() {
        return KERNEL instanceof ScalarGemmKernel ? "scalar" : "vector-api";
    }

    /** Packs (K, N) row-major fp32 weights. */
    public static PanelMatrix pack(float[] w, int k, int n) {
        return PanelMatrix.pack(w, k, n, false, KERNEL.pairLanes());
    }

    /** Packs (K, N) row-major weights held as bf16 bit patterns; they stay bf16. */
    public static PanelMatrix packBf16(short[] w, int k, int n) {
        return PanelMatrix.packBf16(w, k, n, false, KERNEL.pairLanes());
    }

    /** Packs the (K, N) transpose of an (N, K) row-major fp32 matrix (an embedding table used as the output projection). */
    public static PanelMatrix packTransposed(float[] w, int k, int n) {
        return PanelMatrix.pack(w, k, n, true, KERNEL.pairLanes());
    }

    /** As {@link #packTransposed} from bf16 bit patterns. */
    public static PanelMatrix packTransposedBf16(short[] w, int k, int n) {
        return PanelMatrix.packBf16(w, k, n, true, KERNEL.pairLanes());
    }

    /**
     * Packs the (K, Σ rows) matrix whose columns are the rows of {@code parts}, each (rows, K)
     * row-major, side by side: Hugging Face Linear weights, (out, in), fused into one input-major
     * weight in one pass.
     */
    public static PanelMatrix packColumns(float[][] parts, int k) {
        return PanelMatrix.packColumns(parts, k, KERNEL.pairLanes());
    }

    /** As {@link #packColumns} from bf16 bit patterns; they stay bf16. */
    public static PanelMatrix packColumnsBf16(short[][] parts, int k) {
        return PanelMatrix.packColumnsBf16(parts, k, KERNEL.pairLanes());
    }

    /** Whether this JVM's kernel reads {@code w} as packed (bf16 pair groups of its vector width). */
    public static boolean reads(PanelMatrix w) {
        return !w.isBf16() || w.pairLanes() == KERNEL.pairLanes();
    }

    /** {@code Y = X · W + bias} with W (K, N) input-major; packs W first. */
    public static void matmul(float[] x, int m, int k, float[] w, int n, float[] bias, float[] y, CpuThreads threads) {
        matmul(x, m, pack(w, k, n), bias, y, threads);
    }

    /** {@code Y = X · W + bias} with W (K, N) input-major, held as bf16 bit patterns; packs W first. */
    public static void matmulBf16(
            float[] x, int m, int k, short[] w, int n, float[] bias, float[] y, CpuThreads threads) {
        matmul(x, m, packBf16(w, k, n), bias, y, threads);
    }

    /** {@code Y = X · Wᵀ} with W (N, K) output-major; packs W first. */
    public static void matmulTransposed(float[] x, int m, int k, float[] w, int n, float[] y, CpuThreads threads) {
        matmul(x, m, packTransposed(w, k, n), null, y, threads);
    }

    /** {@code Y = X · Wᵀ} with W (N, K) output-major, held as bf16 bit patterns; packs W first. */
    public static void matmulTransposedBf16(float[] x, int m, int k, short[] w, int n, float[] y, CpuThreads threads) {
        matmul(x, m, packTransposedBf16(w, k, n), null, y, threads);
    }

    /**
     * {@code Y = X · W + bias} over packed weights.
     *
     * @throws IllegalArgumentException when a buffer is smaller than the shapes say, or W was
     *     packed for another kernel's vectors
     */
    public static void matmul(float[] x, int m, PanelMatrix w, float[] bias, float[] y, CpuThreads threads) {
        int k = w.rows();
        int n = w.cols();
        if (m < 0 || x.length < (long) m * k || y.length < (long) m * n || (bias != null && bias.length < n)) {
            throw new IllegalArgumentException("gemm shapes do not fit their buffers: M=" + m + " K=" + k + " N=" + n);
        }
        if (!reads(w)) {
            throw new IllegalArgumentException(
                    w + " was packed for " + w.pairLanes() + "-lane vectors, this kernel has " + KERNEL.pairLanes());
        }
        if (m == 0 || n == 0) {
            return;
        }
        int panels = w.panelCount();
        if (m == 1) {
            // A decode step: the weights' memory traffic is the cost, so each unit is a contiguous
            // run of panels that its worker streams front to back; the same number per thread (a
            // last unit left to one worker would leave the other cores idle while it streams).
            int t = threads.threads();
            int units = Math.min(panels, t * Math.max(1, (panels + t * ROW_PANELS - 1) / (t * ROW_PANELS)));
            threads.parallelForEach(units, (u0, u1) -> {
                for (int u = u0; u < u1; u++) {
                    KERNEL.row(x, k, w, bias, y, panels * u / units, panels * (u + 1) / units);
                }
            });
            return;
        }
        // Work units: (block of up to ROW_BLOCK rows) x (one panel), numbered row-block first so
        // that a worker's consecutive units share their rows of X (which stay in L2) while the
        // panels, contiguous in memory, follow each other. The units of one product are
        // independent: they are handed to whichever worker is free, so a core taken by another
        // process slows the product by its share only.
        int rowBlocks = (m + ROW_BLOCK - 1) / ROW_BLOCK;
        threads.parallelForEach(rowBlocks * panels, (u0, u1) -> {
            for (int u = u0; u < u1; u++) {
                int r0 = (u / panels) * ROW_BLOCK;
                KERNEL.panel(x, k, w, bias, y, r0, Math.min(m, r0 + ROW_BLOCK), u % panels);
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

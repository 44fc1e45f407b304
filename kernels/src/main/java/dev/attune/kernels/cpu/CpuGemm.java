package dev.attune.kernels.cpu;

/**
 * Matrix product with bias on the CPU: {@code Y = X · W + bias}, fp32 in and out, fp32 fused
 * multiply-add accumulation.
 *
 * <p>Shapes: X (M, K), W (K, N) input-major, bias (N) or null, Y (M, N); all row-major. Rows of Y
 * are split across the given {@link CpuThreads}. The Vector API kernel is used when the JVM was
 * started with {@code --add-modules jdk.incubator.vector}; otherwise a portable kernel is.
 */
public final class CpuGemm {

    private static final GemmKernel KERNEL = pick();

    private CpuGemm() {}

    /** The kernel in use, for logs and benchmark records. */
    public static String kernelName() {
        return KERNEL instanceof ScalarGemmKernel ? "scalar" : "vector-api";
    }

    public static void matmul(float[] x, int m, int k, float[] w, int n, float[] bias, float[] y, CpuThreads threads) {
        if (x.length < (long) m * k
                || w.length < (long) k * n
                || y.length < (long) m * n
                || (bias != null && bias.length < n)) {
            throw new IllegalArgumentException("gemm shapes do not fit their buffers: M=" + m + " K=" + k + " N=" + n);
        }
        // Blocks of 12 rows (a multiple of both kernels' register tiles) split across workers.
        int blocks = (m + 11) / 12;
        threads.parallelFor(blocks, 1, (b0, b1) -> KERNEL.rows(x, k, w, n, bias, y, b0 * 12, Math.min(m, b1 * 12)));
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

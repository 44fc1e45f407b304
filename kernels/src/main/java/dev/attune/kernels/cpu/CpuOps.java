package dev.attune.kernels.cpu;

/**
 * Row-wise normalisation and element-wise activations of a transformer layer on the CPU, fp32.
 * Every method works on whole rows of a row-major (rows, width) matrix and splits rows across
 * {@link CpuThreads}.
 */
public final class CpuOps {

    private CpuOps() {}

    /** {@code x = LayerNorm(x + residual)} in place over each row; residual may be null. */
    public static void addLayerNorm(
            float[] x,
            float[] residual,
            int rows,
            int width,
            float[] gamma,
            float[] beta,
            float eps,
            CpuThreads threads) {
        threads.parallelFor(rows, 16, (r0, r1) -> {
            for (int r = r0; r < r1; r++) {
                int o = r * width;
                double sum = 0;
                for (int i = 0; i < width; i++) {
                    float v = residual == null ? x[o + i] : x[o + i] + residual[o + i];
                    x[o + i] = v;
                    sum += v;
                }
                double mean = sum / width;
                double sq = 0;
                for (int i = 0; i < width; i++) {
                    double d = x[o + i] - mean;
                    sq += d * d;
                }
                float inv = (float) (1.0 / Math.sqrt(sq / width + eps));
                float m = (float) mean;
                for (int i = 0; i < width; i++) {
                    x[o + i] = (x[o + i] - m) * inv * gamma[i] + beta[i];
                }
            }
        });
    }

    /** GELU with the exact error function, {@code x * 0.5 * (1 + erf(x / sqrt 2))}, in place. */
    public static void geluErf(float[] x, int rows, int width, CpuThreads threads) {
        VectorPrimitives simd = VectorPrimitives.get();
        threads.parallelFor(rows, 8, (r0, r1) -> simd.geluErf(x, r0 * width, r1 * width));
    }

    /** The error function (see {@link VectorPrimitives#erf}). */
    public static double erf(double x) {
        return VectorPrimitives.erf(x);
    }
}

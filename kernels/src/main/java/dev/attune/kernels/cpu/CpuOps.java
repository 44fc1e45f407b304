package dev.attune.kernels.cpu;

/**
 * Row-wise normalisation and element-wise activations of a transformer layer on the CPU, fp32.
 * Every method works on whole rows of a row-major (rows, width) matrix and splits rows across
 * {@link CpuThreads}.
 */
public final class CpuOps {

    private CpuOps() {
    }

    /** {@code x = LayerNorm(x + residual)} in place over each row; residual may be null. */
    public static void addLayerNorm(float[] x, float[] residual, int rows, int width, float[] gamma,
                                    float[] beta, float eps, CpuThreads threads) {
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
        threads.parallelFor(rows, 8, (r0, r1) -> {
            for (int i = r0 * width, end = r1 * width; i < end; i++) {
                float v = x[i];
                x[i] = (float) (0.5 * v * (1.0 + erf(v * 0.7071067811865476)));
            }
        });
    }

    /**
     * The error function, with absolute error below 1.2e-7 over the real line (W. J. Cody's
     * rational Chebyshev approximation as given in Numerical Recipes' {@code erfcc} form,
     * evaluated in double).
     */
    public static double erf(double x) {
        double z = Math.abs(x);
        double t = 1.0 / (1.0 + 0.5 * z);
        double ans = t * Math.exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418
                + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587
                + t * (-0.82215223 + t * 0.17087277)))))))));
        return x >= 0 ? 1.0 - ans : ans - 1.0;
    }
}

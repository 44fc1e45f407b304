package dev.attune.kernels.cpu;

/**
 * The portable GEMM kernel: four output rows at a time, the column loop written as an axpy so
 * that HotSpot's superword pass vectorises it. Used where the Vector API is not available.
 */
final class ScalarGemmKernel implements GemmKernel {

    /** Columns per block: four accumulator rows of this width stay in L1. */
    private static final int COL_BLOCK = 256;

    @Override
    public void rows(float[] x, int k, float[] w, int n, float[] bias, float[] y, int r0, int r1) {
        for (int c0 = 0; c0 < n; c0 += COL_BLOCK) {
            int c1 = Math.min(n, c0 + COL_BLOCK);
            int r = r0;
            for (; r + 4 <= r1; r += 4) {
                int y0 = r * n, y1 = y0 + n, y2 = y1 + n, y3 = y2 + n;
                init(y, y0, bias, c0, c1);
                init(y, y1, bias, c0, c1);
                init(y, y2, bias, c0, c1);
                init(y, y3, bias, c0, c1);
                for (int p = 0; p < k; p++) {
                    float a0 = x[r * k + p], a1 = x[(r + 1) * k + p];
                    float a2 = x[(r + 2) * k + p], a3 = x[(r + 3) * k + p];
                    int wp = p * n;
                    for (int c = c0; c < c1; c++) {
                        float wv = w[wp + c];
                        y[y0 + c] += a0 * wv;
                        y[y1 + c] += a1 * wv;
                        y[y2 + c] += a2 * wv;
                        y[y3 + c] += a3 * wv;
                    }
                }
            }
            for (; r < r1; r++) {
                int y0 = r * n;
                init(y, y0, bias, c0, c1);
                for (int p = 0; p < k; p++) {
                    float a0 = x[r * k + p];
                    int wp = p * n;
                    for (int c = c0; c < c1; c++) {
                        y[y0 + c] += a0 * w[wp + c];
                    }
                }
            }
        }
    }

    private static void init(float[] y, int rowStart, float[] bias, int c0, int c1) {
        for (int c = c0; c < c1; c++) {
            y[rowStart + c] = bias == null ? 0f : bias[c];
        }
    }
}

package dev.attune.kernels.cpu;

/**
 * The portable GEMM kernel: four output rows at a time over a block of columns, the column loop
 * written as an axpy over a packed copy of the block's weights so that HotSpot's superword pass
 * vectorises it. Used where the Vector API is not available.
 */
final class ScalarGemmKernel implements GemmKernel {

    /** Columns per block: four accumulator rows of this width stay in L1. */
    private static final int COL_BLOCK = 256;
    /** Inputs per packed chunk: a (64 x 256) weight chunk is 64 KB. */
    private static final int K_CHUNK = 64;

    @Override
    public int panelWidth() {
        return COL_BLOCK;
    }

    @Override
    public int scratchFloats() {
        return K_CHUNK * COL_BLOCK;
    }

    @Override
    public void fewRows(float[] x, int m, int k, float[] w, int n, float[] bias, float[] y, int c0, int c1) {
        GemmKernel.startFromBias(y, n, bias, 0, m, c0, c1);
        for (int p = 0; p < k; p++) {
            int wo = p * n;
            for (int r = 0; r < m; r++) {
                float a = x[r * k + p];
                int yo = r * n;
                for (int c = c0; c < c1; c++) {
                    y[yo + c] = Math.fma(a, w[wo + c], y[yo + c]);
                }
            }
        }
    }

    @Override
    public void fewRowsBf16(float[] x, int m, int k, short[] w, int n, float[] bias, float[] y, int c0, int c1) {
        GemmKernel.startFromBias(y, n, bias, 0, m, c0, c1);
        float[] row = new float[c1 - c0];
        for (int p = 0; p < k; p++) {
            widenBf16(w, p * n + c0, row, 0, row.length);
            for (int r = 0; r < m; r++) {
                float a = x[r * k + p];
                int yo = r * n + c0;
                for (int j = 0; j < row.length; j++) {
                    y[yo + j] = Math.fma(a, row[j], y[yo + j]);
                }
            }
        }
    }

    @Override
    public void widenBf16(short[] src, int s, float[] dst, int d, int count) {
        for (int i = 0; i < count; i++) {
            dst[d + i] = Float.intBitsToFloat(src[s + i] << 16);
        }
    }

    @Override
    public void block(
            float[] x,
            int k,
            float[] w,
            short[] wBf16,
            boolean transposed,
            int n,
            float[] bias,
            float[] y,
            int r0,
            int r1,
            int c0,
            int c1,
            float[] scratch) {
        int cols = c1 - c0;
        GemmKernel.startFromBias(y, n, bias, r0, r1, c0, c1);
        for (int kc = 0; kc < k; kc += K_CHUNK) {
            int kEnd = Math.min(k, kc + K_CHUNK);
            GemmPanels.pack(w, wBf16, this, transposed, k, n, kc, kEnd, c0, cols, cols, scratch);
            for (int r = r0; r < r1; r++) {
                int yo = r * n + c0;
                for (int p = kc; p < kEnd; p++) {
                    float a = x[r * k + p];
                    int wo = (p - kc) * cols;
                    for (int j = 0; j < cols; j++) {
                        y[yo + j] = Math.fma(a, scratch[wo + j], y[yo + j]);
                    }
                }
            }
        }
    }
}

package dev.attune.kernels.cpu;

/**
 * The portable GEMM kernel, used where the Vector API is not available: per panel and row, the
 * column loop written as an axpy over the panel's row of weights (widened first when bf16) so
 * that HotSpot's superword pass vectorises it.
 */
final class ScalarGemmKernel implements GemmKernel {

    /** Any group size reads the layout; this one is the Vector API kernel's on AVX-512. */
    private static final int PAIR_LANES = 16;

    @Override
    public int pairLanes() {
        return PAIR_LANES;
    }

    @Override
    public void panel(float[] x, int k, PanelMatrix w, float[] bias, float[] y, int r0, int r1, int j) {
        int n = w.cols();
        int c0 = j * PanelMatrix.WIDTH;
        int cols = Math.min(PanelMatrix.WIDTH, n - c0);
        float[] f = w.f32();
        short[] b = w.bf16();
        float[] row = new float[PanelMatrix.WIDTH];
        float[] acc = new float[PanelMatrix.WIDTH];
        int[] slot = b != null ? PanelMatrix.slots(w.pairLanes()) : null;
        for (int r = r0; r < r1; r++) {
            for (int c = 0; c < cols; c++) {
                acc[c] = bias == null ? 0f : bias[c0 + c];
            }
            for (int p = 0; p < k; p++) {
                int o = w.offset(j, p);
                if (f != null) {
                    System.arraycopy(f, o, row, 0, PanelMatrix.WIDTH);
                } else {
                    for (int c = 0; c < PanelMatrix.WIDTH; c++) {
                        row[c] = Float.intBitsToFloat(b[o + slot[c]] << 16);
                    }
                }
                float a = x[r * k + p];
                for (int c = 0; c < cols; c++) {
                    acc[c] = Math.fma(a, row[c], acc[c]);
                }
            }
            System.arraycopy(acc, 0, y, r * n + c0, cols);
        }
    }
}

package dev.attune.kernels.cpu;

import java.util.Arrays;

/**
 * Packs one block of a weight matrix into a contiguous panel, the operand layout both GEMM kernels
 * read: {@code panel[(p - kc) * stride + j] = W[p][c + j]} for inputs p in [kc, kEnd) and columns j
 * in [0, cols), zero for j in [cols, stride).
 *
 * <p>Why: in the model's (K, N) layout a block's rows are {@code N} floats apart, so a kernel walking
 * K touches a new page every few steps and the hardware prefetcher follows as many streams as the
 * block has rows; packed, the block is one sequential stream that stays in L1 while every row tile
 * of the block reuses it. Packing also reads an (N, K) matrix (an embedding table used as the
 * output projection) into the same layout, so one kernel serves both. Weights held as bf16 bit
 * patterns are widened to fp32 as they are packed, exactly, so the kernels only ever see floats.
 */
final class GemmPanels {

    private GemmPanels() {}

    /** As {@link #pack(float[], boolean, int, int, int, int, int, int, int, float[])} from fp32 or bf16 weights. */
    static void pack(
            float[] w,
            short[] wBf16,
            GemmKernel kernel,
            boolean transposed,
            int k,
            int n,
            int kc,
            int kEnd,
            int c,
            int cols,
            int stride,
            float[] panel) {
        pack(w, wBf16, kernel, transposed, k, n, kc, kEnd, c, cols, stride, panel, 0);
    }

    /** As above, into {@code panel} from offset {@code off} (which only the (K, N) layout may set). */
    static void pack(
            float[] w,
            short[] wBf16,
            GemmKernel kernel,
            boolean transposed,
            int k,
            int n,
            int kc,
            int kEnd,
            int c,
            int cols,
            int stride,
            float[] panel,
            int off) {
        int rows = kEnd - kc;
        if (!transposed) {
            for (int p = 0; p < rows; p++) {
                if (w != null) {
                    System.arraycopy(w, (kc + p) * n + c, panel, off + p * stride, cols);
                } else {
                    kernel.widenBf16(wBf16, (kc + p) * n + c, panel, off + p * stride, cols);
                }
                if (cols < stride) {
                    Arrays.fill(panel, off + p * stride + cols, off + (p + 1) * stride, 0f);
                }
            }
            return;
        }
        if (w != null) {
            pack(w, true, k, n, kc, kEnd, c, cols, stride, panel);
            return;
        }
        for (int j = 0; j < cols; j++) {
            int src = (c + j) * k + kc;
            for (int p = 0; p < rows; p++) {
                panel[p * stride + j] = Float.intBitsToFloat(wBf16[src + p] << 16);
            }
        }
        padColumns(rows, cols, stride, panel);
    }

    static void pack(
            float[] w, boolean transposed, int k, int n, int kc, int kEnd, int c, int cols, int stride, float[] panel) {
        int rows = kEnd - kc;
        if (!transposed) {
            for (int p = 0; p < rows; p++) {
                System.arraycopy(w, (kc + p) * n + c, panel, p * stride, cols);
            }
        } else {
            // (N, K): column j of the block is row c + j of W, contiguous along K.
            for (int j = 0; j < cols; j++) {
                int src = (c + j) * k + kc;
                for (int p = 0; p < rows; p++) {
                    panel[p * stride + j] = w[src + p];
                }
            }
        }
        padColumns(rows, cols, stride, panel);
    }

    private static void padColumns(int rows, int cols, int stride, float[] panel) {
        if (cols < stride) {
            for (int p = 0; p < rows; p++) {
                Arrays.fill(panel, p * stride + cols, (p + 1) * stride, 0f);
            }
        }
    }
}

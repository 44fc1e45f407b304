package dev.attune.kernels.cpu;

/**
 * The inner loop of a row-major matrix product on the CPU, {@code Y[r0..r1) = X · W + bias}.
 *
 * <p>Shapes: X is (M, K) row-major, W is (K, N) row-major ("input-major", the layout in which
 * each input feature's weights to all outputs are contiguous), Y is (M, N). Implementations must
 * be stateless and safe to call from several threads on disjoint row ranges.
 */
interface GemmKernel {

    void rows(float[] x, int k, float[] w, int n, float[] bias, float[] y, int r0, int r1);
}

package dev.attune.kernels.cpu;

/**
 * The inner loops of a matrix product on the CPU, {@code Y = X · W + bias}, over weights packed
 * into panels ({@link PanelMatrix}); {@link CpuGemm} splits a product into such units and spreads
 * them over threads.
 *
 * <p>Shapes: X is (M, K) row-major, Y is (M, N) row-major, W is a packed (K, N) matrix.
 *
 * <p>Contract: every output is the bias (or zero) followed by {@code fma(x[p], w[p], acc)} for p =
 * 0, 1, ..., K - 1 in that order, so a result does not depend on the unit split, the thread count,
 * the kernel or the weights' precision (bf16 values are their exact fp32 widening). Only outputs
 * of the unit's rows and its panels' columns are written. Implementations are stateless and safe
 * to call from several threads on disjoint units.
 */
interface GemmKernel {

    /** fp32 lanes of this kernel's vectors: the pair groups bf16 panels are interleaved for. */
    int pairLanes();

    /** Y[r0, r1) over the columns of panel {@code j} of W; Y's row stride is N. */
    void panel(float[] x, int k, PanelMatrix w, float[] bias, float[] y, int r0, int r1, int j);

    /**
     * Row 0 of Y (a decode step of one sequence) over panels [j0, j1): each panel's weights are
     * read once, front to back, with no reuse to wait for; a kernel may stream several panels at
     * once to keep more reads in flight.
     */
    default void row(float[] x, int k, PanelMatrix w, float[] bias, float[] y, int j0, int j1) {
        for (int j = j0; j < j1; j++) {
            panel(x, k, w, bias, y, 0, 1, j);
        }
    }
}

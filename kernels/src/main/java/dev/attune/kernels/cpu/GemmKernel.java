package dev.attune.kernels.cpu;

/**
 * The inner loops of a row-major matrix product on the CPU, {@code Y = X · W + bias}, over one
 * block of rows and columns; {@link CpuGemm} splits a product into such blocks and spreads them
 * over threads.
 *
 * <p>Shapes: X is (M, K) row-major, Y is (M, N) row-major. W is (K, N) row-major when {@code
 * transposed} is false ("input-major": each input feature's weights to all outputs contiguous, the
 * layout of the model's linear layers) and (N, K) row-major when it is true ("output-major": each
 * output's weights contiguous, the layout of an embedding table used as the output projection).
 *
 * <p>Contract: every output is the bias (or zero) followed by {@code fma(x[p], w[p], acc)} for p = 0,
 * 1, ..., K - 1 in that order, so a result does not depend on the block split, the thread count or
 * the layout. Implementations are stateless and safe to call from several threads on disjoint
 * blocks; {@code scratch} is the caller's, of {@link #scratchFloats()} floats, one per thread.
 */
interface GemmKernel {

    /** Columns per block: {@link CpuGemm} splits N into blocks of this width (the last may be narrower). */
    int panelWidth();

    /** Size of the per-thread scratch buffer {@link #block} needs. */
    int scratchFloats();

    /**
     * All {@code m} rows (a handful: a decode step) of Y over columns [c0, c1), from (K, N) weights
     * read row by row in place: each weight row's segment is one contiguous stream, which is what
     * a product bound by the weights' memory traffic needs (packing would read them twice).
     */
    void fewRows(float[] x, int m, int k, float[] w, int n, float[] bias, float[] y, int c0, int c1);

    /** As {@link #fewRows} over (K, N) weights held as bf16 bit patterns, widened in registers. */
    void fewRowsBf16(float[] x, int m, int k, short[] w, int n, float[] bias, float[] y, int c0, int c1);

    /** {@code dst[d + i] = widen(src[s + i])} for i in [0, count): bf16 patterns to their fp32 values. */
    void widenBf16(short[] src, int s, float[] dst, int d, int count);

    /**
     * Y[r0, r1) x [c0, c1) where {@code c1 - c0 <= panelWidth()}, from the weights in {@code w}
     * (fp32) or, when it is null, in {@code wBf16}.
     */
    void block(
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
            float[] scratch);

    /**
     * Y[r0, r1) x [c0, c1) for a strip of several panels ({@code c0} a multiple of {@link
     * #panelWidth()}, {@code c1} one too or N): by default panel after panel through {@link #block}.
     */
    default void strip(
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
        for (int c = c0; c < c1; c += panelWidth()) {
            block(x, k, w, wBf16, transposed, n, bias, y, r0, r1, c, Math.min(c1, c + panelWidth()), scratch);
        }
    }

    /** Y[r0, r1) x [c0, c1) set to the bias (or zero): where every output's sum starts. */
    static void startFromBias(float[] y, int n, float[] bias, int r0, int r1, int c0, int c1) {
        for (int r = r0; r < r1; r++) {
            for (int c = c0; c < c1; c++) {
                y[r * n + c] = bias == null ? 0f : bias[c];
            }
        }
    }
}

package dev.attune.kernels.cpu;

/**
 * The inner loops of attention and of the element-wise activations on the CPU, fp32 with fused
 * multiply-add. {@link #get()} returns the Vector API version when the JVM has the
 * {@code jdk.incubator.vector} module, else a portable one. Implementations are stateless.
 */
public interface VectorPrimitives {

    /** {@code Σ a[ao+i] · b[bo+i]} for i in [0, len). */
    float dot(float[] a, int ao, float[] b, int bo, int len);

    /** {@code y[yo+i] += alpha · x[xo+i]} for i in [0, len). */
    void axpy(float alpha, float[] x, int xo, float[] y, int yo, int len);

    /**
     * A block of attention scores, {@code Q · Kᵀ} with K held transposed:
     * {@code s[so + i·ss + j] = Σ_c (q[qo + i·qs + c] · scale) · kt[ko + c·ks + j]} for i in
     * [0, rows), j in [0, cols), c in [0, d). Each sum is a chain of fused multiply-adds in c order
     * starting from 0, as {@code d} {@link #axpy}s of {@code q·scale} over a zeroed row would give,
     * so both implementations and any blocking give the same bits.
     */
    void scoreBlock(
            float[] q,
            int qo,
            int qs,
            float scale,
            float[] kt,
            int ko,
            int ks,
            int d,
            float[] s,
            int so,
            int ss,
            int rows,
            int cols);

    /**
     * Accumulates probabilities times values, {@code acc += P · V}:
     * {@code acc[ao + i·as + c] += Σ_j p[po + i·ps + j] · v[vo + j·vs + c]} for i in [0, rows), c in
     * [0, d), j in [0, cols), the terms added to {@code acc} one at a time by fused multiply-adds in
     * j order, as one {@link #axpy} per (i, j) would, so the bits do not depend on the blocking.
     */
    void accumulateBlock(
            float[] p,
            int po,
            int ps,
            float[] v,
            int vo,
            int vs,
            float[] acc,
            int ao,
            int as,
            int rows,
            int cols,
            int d);

    /** {@code y[yo+i] *= alpha} for i in [0, len). */
    void scale(float alpha, float[] y, int yo, int len);

    /** {@code y[yo+i] = exp(y[yo+i] - shift)} for i in [0, len); returns the sum of the results. */
    float expShiftSum(float[] y, int yo, int len, float shift);

    /** GELU with the erf form, in place over {@code x[from, to)}. */
    void geluErf(float[] x, int from, int to);

    /**
     * {@code out[oo+i] = silu(gate[go+i]) · up[uo+i]}, {@code silu(z) = z / (1 + e^-z)}, for i in
     * [0, len). Each element is computed by the same operations wherever it falls in the range, so
     * any split of a row into ranges gives the same bits.
     */
    void siluMul(float[] gate, int go, float[] up, int uo, float[] out, int oo, int len);

    /**
     * The erf approximation both implementations share (Numerical Recipes' {@code erfcc}: absolute
     * error below 1.2e-7 times erfc), evaluated in double for the portable path.
     */
    static double erf(double x) {
        double z = Math.abs(x);
        double t = 1.0 / (1.0 + 0.5 * z);
        double ans = t
                * Math.exp(
                        -z * z
                                - 1.26551223
                                + t
                                        * (1.00002368
                                                + t
                                                        * (0.37409196
                                                                + t
                                                                        * (0.09678418
                                                                                + t
                                                                                        * (-0.18628806
                                                                                                + t
                                                                                                        * (0.27886807
                                                                                                                + t
                                                                                                                        * (-1.13520398
                                                                                                                                + t
                                                                                                                                        * (1.48851587
                                                                                                                                                + t
                                                                                                                                                        * (-0.82215223
                                                                                                                                                                + t
                                                                                                                                                                        * 0.17087277)))))))));
        return x >= 0 ? 1.0 - ans : ans - 1.0;
    }

    static VectorPrimitives get() {
        return Holder.INSTANCE;
    }

    /** Lazily picks the implementation once per JVM. */
    final class Holder {
        static final VectorPrimitives INSTANCE = pick();

        private Holder() {}

        private static VectorPrimitives pick() {
            if (!Boolean.getBoolean("attune.cpu.scalar")
                    && ModuleLayer.boot().findModule("jdk.incubator.vector").isPresent()) {
                try {
                    return (VectorPrimitives) Class.forName("dev.attune.kernels.cpu.SimdVectorPrimitives")
                            .getDeclaredConstructor()
                            .newInstance();
                } catch (ReflectiveOperationException | LinkageError e) {
                    // fall through to the portable version
                }
            }
            return new ScalarVectorPrimitives();
        }
    }
}

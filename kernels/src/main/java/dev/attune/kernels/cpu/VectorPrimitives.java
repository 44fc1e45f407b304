package dev.attune.kernels.cpu;

/**
 * The two inner loops of attention on the CPU, dot product and axpy, fp32 with fused
 * multiply-add. {@link #get()} returns the Vector API version when the JVM has the
 * {@code jdk.incubator.vector} module, else a portable one. Implementations are stateless.
 */
public interface VectorPrimitives {

    /** {@code Σ a[ao+i] · b[bo+i]} for i in [0, len). */
    float dot(float[] a, int ao, float[] b, int bo, int len);

    /** {@code y[yo+i] += alpha · x[xo+i]} for i in [0, len). */
    void axpy(float alpha, float[] x, int xo, float[] y, int yo, int len);

    /** {@code y[yo+i] *= alpha} for i in [0, len). */
    void scale(float alpha, float[] y, int yo, int len);

    static VectorPrimitives get() {
        return Holder.INSTANCE;
    }

    /** Lazily picks the implementation once per JVM. */
    final class Holder {
        static final VectorPrimitives INSTANCE = pick();

        private Holder() {
        }

        private static VectorPrimitives pick() {
            if (!Boolean.getBoolean("attune.cpu.scalar")
                    && ModuleLayer.boot().findModule("jdk.incubator.vector").isPresent()) {
                try {
                    return (VectorPrimitives) Class.forName("dev.attune.kernels.cpu.SimdVectorPrimitives")
                            .getDeclaredConstructor().newInstance();
                } catch (ReflectiveOperationException | LinkageError e) {
                    // fall through to the portable version
                }
            }
            return new ScalarVectorPrimitives();
        }
    }
}

package dev.attune.kernels.ops;

/**
 * A tensor in the JVM heap: a row-major float array that holds values of the owner's compute
 * dtype (already rounded to it when that is fp16 or bf16), or, for a weight stored in bf16, a
 * row-major array of bf16 bit patterns that the ops widen as they read ({@link #bf16()}). An
 * output table ({@link WeightUploader#outputTable}) is stored transposed: its (rows, cols) values
 * lie in a (cols, rows) row-major array ({@link #storedTransposed()}).
 */
public final class CpuTensor implements Tensor {

    private final float[] data;
    private final short[] bf16;
    private final int rows;
    private final int cols;
    private final boolean transposed;

    /** Wraps {@code data}, which must hold at least rows · cols values; no copy. */
    public CpuTensor(float[] data, int rows, int cols) {
        this(data, null, rows, cols, data.length, false);
    }

    private CpuTensor(float[] data, short[] bf16, int rows, int cols, int length, boolean transposed) {
        if (rows < 0 || cols < 0 || length < (long) rows * cols) {
            throw new IllegalArgumentException(
                    "a (" + rows + ", " + cols + ") tensor does not fit " + length + " values");
        }
        this.data = data;
        this.bf16 = bf16;
        this.rows = rows;
        this.cols = cols;
        this.transposed = transposed;
    }

    /** A weight of bf16 bit patterns, {@code bits} wrapped without a copy. */
    static CpuTensor bf16(short[] bits, int rows, int cols) {
        return new CpuTensor(null, bits, rows, cols, bits.length, false);
    }

    /** A (rows, cols) weight stored transposed: {@code data} or {@code bits} is (cols, rows) row-major. */
    static CpuTensor transposed(float[] data, short[] bits, int rows, int cols) {
        return new CpuTensor(data, bits, rows, cols, data != null ? data.length : bits.length, true);
    }

    /** Whether the array behind the tensor holds its transpose, (cols, rows) row-major. */
    public boolean storedTransposed() {
        return transposed;
    }

    /**
     * The float array behind the tensor (shared, not copied).
     *
     * @throws IllegalStateException for a tensor held in bf16 ({@link #bf16()})
     */
    public float[] data() {
        if (data == null) {
            throw new IllegalStateException(this + " is held as bf16 bit patterns, not floats");
        }
        return data;
    }

    /** The bf16 bit patterns behind a weight held in bf16, or null for a float tensor. */
    public short[] bf16() {
        return bf16;
    }

    @Override
    public int rows() {
        return rows;
    }

    @Override
    public int cols() {
        return cols;
    }

    /** {@code t} as a CPU tensor; a tensor of another backend is a programming error. */
    static CpuTensor of(Tensor t) {
        if (t instanceof CpuTensor c) {
            return c;
        }
        throw new IllegalArgumentException(
                "not a CPU tensor: " + (t == null ? "null" : t.getClass().getName()));
    }

    @Override
    public String toString() {
        return "CpuTensor(" + rows + ", " + cols + (bf16 == null ? "" : ", bf16") + (transposed ? ", transposed" : "")
                + ")";
    }
}

package dev.attune.kernels.ops;

/**
 * A tensor in the JVM heap: a row-major float array that holds values of the owner's compute
 * dtype (already rounded to it when that is fp16 or bf16).
 */
public final class CpuTensor implements Tensor {

    private final float[] data;
    private final int rows;
    private final int cols;

    /** Wraps {@code data}, which must hold at least rows · cols values; no copy. */
    public CpuTensor(float[] data, int rows, int cols) {
        if (rows < 0 || cols < 0 || data.length < (long) rows * cols) {
            throw new IllegalArgumentException(
                    "a (" + rows + ", " + cols + ") tensor does not fit " + data.length + " floats");
        }
        this.data = data;
        this.rows = rows;
        this.cols = cols;
    }

    /** The array behind the tensor (shared, not copied). */
    public float[] data() {
        return data;
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
        return "CpuTensor(" + rows + ", " + cols + ")";
    }
}

package dev.attune.kernels.cuda;

import dev.attune.kernels.ops.Tensor;
import dev.attune.kernels.select.ComputeDtype;

/**
 * A tensor in device memory for {@link CudaTensorOps}: a {@link GpuArray} of the compute dtype
 * seen as a logical (rows, cols) matrix.
 *
 * <p>Layout: row-major (rows, cols), except for a Linear weight made by
 * {@link CudaWeights#linear}, whose logical shape is (in, out) but whose memory holds the
 * transpose, (out, in) row-major, as the GEMM kernels read it ({@link #outInLayout()}).
 *
 * <p>Lifecycle: as its array's (a session's pooled array lives until the session closes, a
 * weight until its {@link CudaWeights} is closed). Threading: immutable; the memory it names is
 * read and written in stream order of the session that uses it.
 */
public final class CudaTensor implements Tensor {

    private final GpuArray array;
    private final int rows;
    private final int cols;
    private final boolean outInLayout;

    /**
     * @param array       floating-point device memory holding at least rows · cols elements
     * @param outInLayout the memory holds the (cols, rows) transpose of the logical matrix (a
     *                    Linear weight, (in, out) logically, stored (out, in))
     */
    CudaTensor(GpuArray array, int rows, int cols, boolean outInLayout) {
        if (array == null || array.isInt()) {
            throw new IllegalArgumentException("a CUDA tensor needs floating-point device memory, got "
                    + (array == null ? "null" : array.describe()));
        }
        if (rows < 0 || cols < 0 || array.elements() < (long) rows * cols) {
            throw new IllegalArgumentException(
                    "a (" + rows + ", " + cols + ") tensor does not fit " + array.describe());
        }
        this.array = array;
        this.rows = rows;
        this.cols = cols;
        this.outInLayout = outInLayout;
    }

    /** The device memory (a view; not owned by the tensor). */
    public GpuArray array() {
        return array;
    }

    public ComputeDtype dtype() {
        return array.dtype();
    }

    @Override
    public int rows() {
        return rows;
    }

    @Override
    public int cols() {
        return cols;
    }

    /** Whether the memory holds the (cols, rows) transpose: a Linear weight in the GEMM's (out, in) layout. */
    public boolean outInLayout() {
        return outInLayout;
    }

    /** {@code t} as a CUDA tensor; a tensor of another backend is a programming error. */
    static CudaTensor of(Tensor t, String op, String name) {
        if (t instanceof CudaTensor c) {
            return c;
        }
        throw new IllegalArgumentException(op + ": " + name + " is not a CUDA tensor: "
                + (t == null ? "null" : t.getClass().getName()));
    }

    @Override
    public String toString() {
        return "CudaTensor(" + rows + ", " + cols + (outInLayout ? ", stored (out, in)" : "") + ", " + array.describe()
                + ")";
    }
}

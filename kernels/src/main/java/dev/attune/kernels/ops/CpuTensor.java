package dev.attune.kernels.ops;

import dev.attune.kernels.cpu.PanelMatrix;

/**
 * A tensor in the JVM heap, in one of three forms: a row-major float array that holds values of
 * the owner's compute dtype (already rounded to it when that is fp16 or bf16); for a table stored
 * in bf16, a row-major array of bf16 bit patterns that the ops widen as they read ({@link
 * #bf16()}); or, for a Linear weight or an output table, a matrix packed into the GEMM's panels
 * ({@link #packed()}, fp32 or bf16). A packed Linear weight's (in, out) shape is the panel
 * matrix's (K, N); an output table ({@link WeightUploader#outputTable}), (vocab, hidden), is
 * packed as its transpose, (hidden, vocab) ({@link #storedTransposed()}).
 */
public final class CpuTensor implements Tensor {

    private final float[] data;
    private final short[] bf16;
    private final PanelMatrix packed;
    private final int rows;
    private final int cols;
    private final boolean transposed;

    /** Wraps {@code data}, which must hold at least rows · cols values; no copy. */
    public CpuTensor(float[] data, int rows, int cols) {
        this(data, null, null, rows, cols, data.length, false);
    }

    private CpuTensor(
            float[] data, short[] bf16, PanelMatrix packed, int rows, int cols, long length, boolean transposed) {
        if (rows < 0 || cols < 0 || length < (long) rows * cols) {
            throw new IllegalArgumentException(
                    "a (" + rows + ", " + cols + ") tensor does not fit " + length + " values");
        }
        this.data = data;
        this.bf16 = bf16;
        this.packed = packed;
        this.rows = rows;
        this.cols = cols;
        this.transposed = transposed;
    }

    /** A table of bf16 bit patterns, {@code bits} wrapped without a copy. */
    static CpuTensor bf16(short[] bits, int rows, int cols) {
        return new CpuTensor(null, bits, null, rows, cols, bits.length, false);
    }

    /** A Linear weight packed into panels: shape (K, N) of the matrix. */
    static CpuTensor packed(PanelMatrix w) {
        return new CpuTensor(null, null, w, w.rows(), w.cols(), (long) w.rows() * w.cols(), false);
    }

    /** An output table packed as its transpose: shape (N, K) of the matrix. */
    static CpuTensor packedTransposed(PanelMatrix w) {
        return new CpuTensor(null, null, w, w.cols(), w.rows(), (long) w.rows() * w.cols(), true);
    }

    /** Whether the tensor is held packed as its transpose (an output table), see {@link #packed()}. */
    public boolean storedTransposed() {
        return transposed;
    }

    /** The packed matrix behind a Linear weight or an output table, or null for the other forms. */
    public PanelMatrix packed() {
        return packed;
    }

    /** Element (r, c) of the tensor, whichever its form: for reading a few values of a weight. */
    public float get(int r, int c) {
        if (r < 0 || r >= rows || c < 0 || c >= cols) {
            throw new IndexOutOfBoundsException("(" + r + ", " + c + ") outside " + this);
        }
        if (packed != null) {
            return transposed ? packed.get(c, r) : packed.get(r, c);
        }
        return bf16 != null ? WeightData.Bf16.toFloat(bf16[r * cols + c]) : data[r * cols + c];
    }

    /**
     * The float array behind the tensor (shared, not copied).
     *
     * @throws IllegalStateException for a tensor held in bf16 ({@link #bf16()}) or packed ({@link #packed()})
     */
    public float[] data() {
        if (data == null) {
            throw new IllegalStateException(
                    this + " is held " + (packed != null ? "packed" : "as bf16 bit patterns") + ", not as floats");
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
        String form = packed != null ? (packed.isBf16() ? ", packed bf16" : ", packed") : bf16 != null ? ", bf16" : "";
        return "CpuTensor(" + rows + ", " + cols + form + (transposed ? ", transposed" : "") + ")";
    }
}

package dev.attune.kernels.cpu;

import java.util.Arrays;

/**
 * A (K, N) weight matrix packed once, at load, into the operand layout of the CPU GEMM: N split
 * into panels of {@link #WIDTH} columns, each stored as a contiguous (K, WIDTH) row-major block,
 * panel after panel; the last panel's missing columns are zeros. Values are fp32, or bf16 bit
 * patterns (a checkpoint stored in bf16), which are then read as their exact fp32 values.
 *
 * <p>Why: a product streams each panel front to back, one long sequential read (256 KB per panel
 * of a 2,048-input bf16 matrix) that the prefetcher follows, instead of a narrow column of every
 * row of the (K, N) layout (one page per row); and no product packs weights any more, so a
 * decode step of a few rows pays only for reading them. The register tile of the kernel covers a
 * panel's width, so a chunk of a panel's rows stays in cache while every row tile passes over it.
 *
 * <p>bf16 rows are stored pair-interleaved for a kernel of {@link #pairLanes()} fp32 lanes: in
 * each group of {@code 2 · pairLanes} columns, 32-bit word i holds column i in its lower half and
 * column {@code pairLanes + i} in its upper half, so one vector load gives two vectors of columns
 * in order by a shift and a mask, without a lane shuffle. {@link #get} hides the layout.
 *
 * <p>Immutable after construction; safe to read from any number of threads.
 */
public final class PanelMatrix {

    /** Columns per panel: four 512-bit vectors of fp32, one register tile's width. */
    public static final int WIDTH = 64;

    private final int k;
    private final int n;
    private final float[] f32;
    private final short[] bf16;
    private final int pairLanes;

    private PanelMatrix(int k, int n, float[] f32, short[] bf16, int pairLanes) {
        this.k = k;
        this.n = n;
        this.f32 = f32;
        this.bf16 = bf16;
        this.pairLanes = pairLanes;
    }

    /**
     * Packs fp32 weights: {@code w} is (K, N) row-major, or (N, K) row-major when {@code
     * transposed} (an embedding table used as the output projection).
     */
    static PanelMatrix pack(float[] w, int k, int n, boolean transposed, int pairLanes) {
        check(w.length, k, n);
        float[] out = new float[panels(n) * k * WIDTH];
        if (transposed) {
            columns(w, n, k, 0, out);
            return new PanelMatrix(k, n, out, null, pairLanes);
        }
        for (int j = 0; j < panels(n); j++) {
            int c0 = j * WIDTH;
            int cols = Math.min(WIDTH, n - c0);
            for (int p = 0; p < k; p++) {
                System.arraycopy(w, p * n + c0, out, (j * k + p) * WIDTH, cols);
            }
        }
        return new PanelMatrix(k, n, out, null, pairLanes);
    }

    /** As {@link #pack(float[], int, int, boolean, int)} for bf16 bit patterns, pair-interleaved. */
    static PanelMatrix packBf16(short[] w, int k, int n, boolean transposed, int pairLanes) {
        check(w.length, k, n);
        int[] slot = slots(pairLanes);
        short[] out = new short[panels(n) * k * WIDTH];
        if (transposed) {
            columnsBf16(w, n, k, 0, out, slot);
            return new PanelMatrix(k, n, null, out, pairLanes);
        }
        for (int j = 0; j < panels(n); j++) {
            int c0 = j * WIDTH;
            int cols = Math.min(WIDTH, n - c0);
            for (int p = 0; p < k; p++) {
                int o = (j * k + p) * WIDTH;
                for (int c = 0; c < cols; c++) {
                    out[o + slot[c]] = w[p * n + c0 + c];
                }
            }
        }
        return new PanelMatrix(k, n, null, out, pairLanes);
    }

    /**
     * The (K, Σ rows) matrix whose columns are the rows of {@code parts} side by side, each part
     * (rows, K) row-major: Hugging Face Linear weights, (out, in), fused into one input-major
     * weight and packed in one pass, without a row-major copy of the fused matrix between.
     */
    static PanelMatrix packColumns(float[][] parts, int k, int pairLanes) {
        int n = columnCount(Arrays.stream(parts).mapToInt(a -> a.length).toArray(), k);
        float[] out = new float[panels(n) * k * WIDTH];
        int c0 = 0;
        for (float[] part : parts) {
            columns(part, part.length / k, k, c0, out);
            c0 += part.length / k;
        }
        return new PanelMatrix(k, n, out, null, pairLanes);
    }

    /** As {@link #packColumns(float[][], int, int)} for bf16 bit patterns, pair-interleaved. */
    static PanelMatrix packColumnsBf16(short[][] parts, int k, int pairLanes) {
        int n = columnCount(Arrays.stream(parts).mapToInt(a -> a.length).toArray(), k);
        int[] slot = slots(pairLanes);
        short[] out = new short[panels(n) * k * WIDTH];
        int c0 = 0;
        for (short[] part : parts) {
            columnsBf16(part, part.length / k, k, c0, out, slot);
            c0 += part.length / k;
        }
        return new PanelMatrix(k, n, null, out, pairLanes);
    }

    /** Σ rows of parts of {@code lengths} values, each a whole number of K-long rows; checked as a matrix. */
    private static int columnCount(int[] lengths, int k) {
        long n = 0;
        for (int i = 0; i < lengths.length; i++) {
            if (k <= 0 || lengths[i] % k != 0) {
                throw new IllegalArgumentException("part " + i + ": " + lengths[i] + " values are not rows of " + k);
            }
            n += lengths[i] / k;
        }
        check(Math.toIntExact(n * k), k, Math.toIntExact(n));
        return (int) n;
    }

    /**
     * Rows [0, rows) of {@code src}, (rows, K) row-major, as columns [c0, c0 + rows) of the packed
     * fp32 matrix: each row read front to back, written down its panel column.
     */
    private static void columns(float[] src, int rows, int k, int c0, float[] out) {
        for (int r = 0; r < rows; r++) {
            int c = c0 + r;
            int base = (c / WIDTH) * k * WIDTH + c % WIDTH;
            for (int p = 0; p < k; p++) {
                out[base + p * WIDTH] = src[r * k + p];
            }
        }
    }

    /** As {@link #columns} into pair-interleaved bf16 panels ({@code slot} from {@link #slots}). */
    private static void columnsBf16(short[] src, int rows, int k, int c0, short[] out, int[] slot) {
        for (int r = 0; r < rows; r++) {
            int c = c0 + r;
            int base = (c / WIDTH) * k * WIDTH + slot[c % WIDTH];
            for (int p = 0; p < k; p++) {
                out[base + p * WIDTH] = src[r * k + p];
            }
        }
    }

    /** {@code slots[c]}: where column c of a panel lies in a pair-interleaved bf16 row. */
    static int[] slots(int pairLanes) {
        if (pairLanes <= 0 || WIDTH % (2 * pairLanes) != 0) {
            throw new IllegalArgumentException("bf16 panels need pair groups that divide " + WIDTH + ": " + pairLanes);
        }
        int[] slot = new int[WIDTH];
        for (int c = 0; c < WIDTH; c++) {
            slot[c] = slot(c, pairLanes);
        }
        return slot;
    }

    private static int slot(int c, int pairLanes) {
        int group = 2 * pairLanes;
        int i = c % group;
        return c - i + (i < pairLanes ? 2 * i : 2 * (i - pairLanes) + 1);
    }

    private static void check(int length, int k, int n) {
        if (k < 0 || n < 0 || length < (long) k * n) {
            throw new IllegalArgumentException("a (" + k + ", " + n + ") matrix does not fit " + length + " values");
        }
        if ((long) panels(n) * k * WIDTH > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("a (" + k + ", " + n + ") matrix is too large for one panel array");
        }
    }

    static int panels(int n) {
        return (n + WIDTH - 1) / WIDTH;
    }

    /** Inputs: the rows of the logical (K, N) matrix. */
    public int rows() {
        return k;
    }

    /** Outputs: the columns of the logical (K, N) matrix. */
    public int cols() {
        return n;
    }

    /** Number of panels, the last possibly narrower than {@link #WIDTH}. */
    public int panelCount() {
        return panels(n);
    }

    /** Whether the values are bf16 bit patterns. */
    public boolean isBf16() {
        return bf16 != null;
    }

    /** fp32 lanes of the kernel the bf16 rows are interleaved for. */
    public int pairLanes() {
        return pairLanes;
    }

    /** Element (p, c) of the logical (K, N) matrix, as fp32. */
    public float get(int p, int c) {
        if (p < 0 || p >= k || c < 0 || c >= n) {
            throw new IndexOutOfBoundsException("(" + p + ", " + c + ") outside (" + k + ", " + n + ")");
        }
        int j = c / WIDTH;
        int i = c % WIDTH;
        int o = (j * k + p) * WIDTH;
        return bf16 == null ? f32[o + i] : Float.intBitsToFloat(bf16[o + slot(i, pairLanes)] << 16);
    }

    /** The logical (K, N) matrix as a row-major fp32 copy. */
    public float[] toRowMajor() {
        float[] out = new float[k * n];
        for (int p = 0; p < k; p++) {
            for (int c = 0; c < n; c++) {
                out[p * n + c] = get(p, c);
            }
        }
        return out;
    }

    /** The packed fp32 values, or null for bf16; for the kernels. */
    float[] f32() {
        return f32;
    }

    /** The packed, pair-interleaved bf16 patterns, or null for fp32; for the kernels. */
    short[] bf16() {
        return bf16;
    }

    /** Offset of row p of panel j in {@link #f32()} or {@link #bf16()}. */
    int offset(int j, int p) {
        return (j * k + p) * WIDTH;
    }

    @Override
    public String toString() {
        return "PanelMatrix(" + k + ", " + n + (bf16 != null ? ", bf16" : "") + ")";
    }
}

package dev.attune.kernels.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * GEMM kernel on the JDK Vector API, over packed weight panels.
 *
 * <p>Register tile: 4 rows by 3 vectors of columns (12 accumulators; with 512-bit vectors that is
 * 4 x 48 outputs), held in registers across a K chunk: per step 3 weight loads and 4 broadcasts
 * feed 12 fused multiply-adds. (A 6 x 4 tile needs more registers than C2 keeps the Vector API's
 * values in, and runs three times slower.)
 *
 * <p>Cache blocking: a block's weights are packed {@link #K_CHUNK} inputs at a time into a
 * contiguous (chunk x 3 vectors) panel (24 KB with 512-bit vectors), which stays in L1 while every
 * row tile of the block runs over it; the tiles' partial sums go to Y between chunks and the next
 * chunk resumes from them, so every output is summed in the same order whatever the chunking.
 * A block narrower than the panel runs on a padded copy of its outputs.
 *
 * <p>Only loaded when the {@code jdk.incubator.vector} module is in the boot layer; see
 * {@link CpuGemm}.
 */
final class VectorGemmKernel implements GemmKernel {

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int L = S.length();
    /** L bf16 patterns: half the float vector's bits, widened to one float vector. */
    private static final VectorSpecies<Short> SH =
            VectorSpecies.of(short.class, VectorShape.forBitSize(S.vectorBitSize() / 2));

    private static final VectorSpecies<Integer> SI = VectorSpecies.of(int.class, S.vectorShape());
    private static final int TILE_ROWS = 4;
    private static final int NR = 3 * L;
    /** Inputs per packed chunk: 128 x 3 vectors (24 KB with 512-bit vectors) stays in L1. */
    private static final int K_CHUNK = 128;

    @Override
    public int panelWidth() {
        return NR;
    }

    @Override
    public int scratchFloats() {
        return K_CHUNK * NR;
    }

    @Override
    public void fewRows(float[] x, int m, int k, float[] w, int n, float[] bias, float[] y, int c0, int c1) {
        GemmKernel.startFromBias(y, n, bias, 0, m, c0, c1);
        int whole = c0 + (c1 - c0) / L * L;
        // Input p outermost: the weights stream once, row segment by row segment; Y's rows (at
        // most a few KB each) stay in L1 and take one fused multiply-add per input, in input order.
        for (int p = 0; p < k; p++) {
            int wo = p * n;
            for (int c = c0; c < whole; c += L) {
                FloatVector wv = FloatVector.fromArray(S, w, wo + c);
                for (int r = 0; r < m; r++) {
                    int yo = r * n + c;
                    wv.fma(FloatVector.broadcast(S, x[r * k + p]), FloatVector.fromArray(S, y, yo))
                            .intoArray(y, yo);
                }
            }
            for (int c = whole; c < c1; c++) {
                for (int r = 0; r < m; r++) {
                    y[r * n + c] = Math.fma(x[r * k + p], w[wo + c], y[r * n + c]);
                }
            }
        }
    }

    @Override
    public void fewRowsBf16(float[] x, int m, int k, short[] w, int n, float[] bias, float[] y, int c0, int c1) {
        GemmKernel.startFromBias(y, n, bias, 0, m, c0, c1);
        int whole = c0 + (c1 - c0) / L * L;
        // As fewRows: the bf16 weights stream once; each vector of them is widened in registers.
        for (int p = 0; p < k; p++) {
            int wo = p * n;
            for (int c = c0; c < whole; c += L) {
                FloatVector wv = widen(w, wo + c);
                for (int r = 0; r < m; r++) {
                    int yo = r * n + c;
                    wv.fma(FloatVector.broadcast(S, x[r * k + p]), FloatVector.fromArray(S, y, yo))
                            .intoArray(y, yo);
                }
            }
            for (int c = whole; c < c1; c++) {
                float wc = Float.intBitsToFloat(w[wo + c] << 16);
                for (int r = 0; r < m; r++) {
                    y[r * n + c] = Math.fma(x[r * k + p], wc, y[r * n + c]);
                }
            }
        }
    }

    /**
     * L bf16 patterns from {@code w[o..]} as floats: sign-extended to ints (the upper half is then
     * shifted out, so the extension does not matter), shifted into the upper half, reinterpreted.
     */
    private static FloatVector widen(short[] w, int o) {
        return ((IntVector) ShortVector.fromArray(SH, w, o).convertShape(VectorOperators.S2I, SI, 0))
                .lanewise(VectorOperators.LSHL, 16)
                .reinterpretAsFloats();
    }

    @Override
    public void widenBf16(short[] src, int s, float[] dst, int d, int count) {
        int i = 0;
        for (; i + L <= count; i += L) {
            widen(src, s + i).intoArray(dst, d + i);
        }
        for (; i < count; i++) {
            dst[d + i] = Float.intBitsToFloat(src[s + i] << 16);
        }
    }

    @Override
    public void block(
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
        int cols = c1 - c0;
        if (cols == NR) {
            run(x, k, w, wBf16, transposed, n, bias, c0, y, r0 * n + c0, n, r0, r1, c0, scratch);
            return;
        }
        // A narrower block (the last panel of N) runs the same whole-vector loops on a padded copy
        // of its outputs and bias, so the hot loops never need lane masks.
        int rows = r1 - r0;
        float[] yPad = new float[rows * NR];
        float[] biasPad = null;
        if (bias != null) {
            biasPad = new float[NR];
            System.arraycopy(bias, c0, biasPad, 0, cols);
        }
        run(x, k, w, wBf16, transposed, n, biasPad, 0, yPad, 0, NR, r0, r1, c0, scratch);
        for (int r = 0; r < rows; r++) {
            System.arraycopy(yPad, r * NR, y, (r0 + r) * n + c0, cols);
        }
    }

    /**
     * Rows [r0, r1) of X against columns [c, c + NR) of W (fewer where W ends, padded with zeros in
     * the panel), into Y from offset {@code yo} with row stride {@code ys}, bias from {@code bo}.
     */
    private void run(
            float[] x,
            int k,
            float[] w,
            short[] wBf16,
            boolean transposed,
            int n,
            float[] bias,
            int bo,
            float[] y,
            int yo,
            int ys,
            int r0,
            int r1,
            int c,
            float[] panel) {
        int cols = Math.min(NR, n - c);
        for (int kc = 0; kc == 0 || kc < k; kc += K_CHUNK) { // K = 0 still writes the bias
            int kEnd = Math.min(k, kc + K_CHUNK);
            GemmPanels.pack(w, wBf16, this, transposed, k, n, kc, kEnd, c, cols, NR, panel);
            int r = r0;
            int o = yo;
            for (; r + TILE_ROWS <= r1; r += TILE_ROWS, o += TILE_ROWS * ys) {
                tile4x3(x, r * k, k, panel, kc, kEnd, y, o, ys, bias, bo);
            }
            for (; r < r1; r++, o += ys) {
                row1x3(x, r * k, panel, kc, kEnd, y, o, bias, bo);
            }
        }
    }

    /** Where an accumulator starts a K chunk from: the bias (or zero) at the first chunk, else Y. */
    private static FloatVector start(float[] bias, int bo, float[] y, int yo, int kc) {
        if (kc > 0) {
            return FloatVector.fromArray(S, y, yo);
        }
        return bias == null ? FloatVector.zero(S) : FloatVector.fromArray(S, bias, bo);
    }

    private static void tile4x3(
            float[] x,
            int x0,
            int k,
            float[] panel,
            int kc,
            int kEnd,
            float[] y,
            int y0,
            int ys,
            float[] bias,
            int bo) {
        int y1 = y0 + ys;
        int y2 = y1 + ys;
        int y3 = y2 + ys;
        FloatVector a00 = start(bias, bo, y, y0, kc);
        FloatVector a01 = start(bias, bo + L, y, y0 + L, kc);
        FloatVector a02 = start(bias, bo + 2 * L, y, y0 + 2 * L, kc);
        FloatVector a10 = start(bias, bo, y, y1, kc);
        FloatVector a11 = start(bias, bo + L, y, y1 + L, kc);
        FloatVector a12 = start(bias, bo + 2 * L, y, y1 + 2 * L, kc);
        FloatVector a20 = start(bias, bo, y, y2, kc);
        FloatVector a21 = start(bias, bo + L, y, y2 + L, kc);
        FloatVector a22 = start(bias, bo + 2 * L, y, y2 + 2 * L, kc);
        FloatVector a30 = start(bias, bo, y, y3, kc);
        FloatVector a31 = start(bias, bo + L, y, y3 + L, kc);
        FloatVector a32 = start(bias, bo + 2 * L, y, y3 + 2 * L, kc);
        int x1 = x0 + k;
        int x2 = x1 + k;
        int x3 = x2 + k;
        for (int p = kc, wp = 0; p < kEnd; p++, wp += NR) {
            FloatVector w0 = FloatVector.fromArray(S, panel, wp);
            FloatVector w1 = FloatVector.fromArray(S, panel, wp + L);
            FloatVector w2 = FloatVector.fromArray(S, panel, wp + 2 * L);
            FloatVector v0 = FloatVector.broadcast(S, x[x0 + p]);
            FloatVector v1 = FloatVector.broadcast(S, x[x1 + p]);
            FloatVector v2 = FloatVector.broadcast(S, x[x2 + p]);
            FloatVector v3 = FloatVector.broadcast(S, x[x3 + p]);
            a00 = w0.fma(v0, a00);
            a01 = w1.fma(v0, a01);
            a02 = w2.fma(v0, a02);
            a10 = w0.fma(v1, a10);
            a11 = w1.fma(v1, a11);
            a12 = w2.fma(v1, a12);
            a20 = w0.fma(v2, a20);
            a21 = w1.fma(v2, a21);
            a22 = w2.fma(v2, a22);
            a30 = w0.fma(v3, a30);
            a31 = w1.fma(v3, a31);
            a32 = w2.fma(v3, a32);
        }
        store3(y, y0, a00, a01, a02);
        store3(y, y1, a10, a11, a12);
        store3(y, y2, a20, a21, a22);
        store3(y, y3, a30, a31, a32);
    }

    private static void store3(float[] y, int o, FloatVector a, FloatVector b, FloatVector c) {
        a.intoArray(y, o);
        b.intoArray(y, o + L);
        c.intoArray(y, o + 2 * L);
    }

    /** One row, inputs [kc, kEnd). */
    private static void row1x3(
            float[] x, int xr, float[] panel, int kc, int kEnd, float[] y, int y0, float[] bias, int bo) {
        FloatVector a0 = start(bias, bo, y, y0, kc);
        FloatVector a1 = start(bias, bo + L, y, y0 + L, kc);
        FloatVector a2 = start(bias, bo + 2 * L, y, y0 + 2 * L, kc);
        for (int p = kc, wp = 0; p < kEnd; p++, wp += NR) {
            FloatVector v = FloatVector.broadcast(S, x[xr + p]);
            a0 = FloatVector.fromArray(S, panel, wp).fma(v, a0);
            a1 = FloatVector.fromArray(S, panel, wp + L).fma(v, a1);
            a2 = FloatVector.fromArray(S, panel, wp + 2 * L).fma(v, a2);
        }
        store3(y, y0, a0, a1, a2);
    }
}

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
    /** 2L bf16 patterns: one full-width load. */
    private static final VectorSpecies<Short> SW = VectorSpecies.of(short.class, S.vectorShape());

    private static final int TILE_ROWS = 4;
    private static final int NR = 3 * L;
    /** Inputs per packed chunk: 128 x 3 vectors (24 KB with 512-bit vectors) stays in L1. */
    private static final int K_CHUNK = 128;
    /** Inputs per packed chunk of a strip: 64 x 2,016 columns of fp32 is 516 KB, in L2. */
    private static final int STRIP_K = 64;

    @Override
    public int panelWidth() {
        return NR;
    }

    @Override
    public int scratchFloats() {
        return K_CHUNK * NR;
    }

    /** Inputs per step of the few-rows loops: each output is loaded and stored once per group. */
    private static final int P_GROUP = 4;

    @Override
    public void fewRows(float[] x, int m, int k, float[] w, int n, float[] bias, float[] y, int c0, int c1) {
        GemmKernel.startFromBias(y, n, bias, 0, m, c0, c1);
        int whole = c0 + (c1 - c0) / L * L;
        // The weights stream once, P_GROUP row segments at a time (four sequential streams); each
        // vector of Y (in L1) takes their P_GROUP fused multiply-adds in input order between one
        // load and one store.
        int p = 0;
        for (; p + P_GROUP <= k; p += P_GROUP) {
            int w0 = p * n;
            int w1 = w0 + n;
            int w2 = w1 + n;
            int w3 = w2 + n;
            if (m == 1) {
                FloatVector x0 = FloatVector.broadcast(S, x[p]);
                FloatVector x1 = FloatVector.broadcast(S, x[p + 1]);
                FloatVector x2 = FloatVector.broadcast(S, x[p + 2]);
                FloatVector x3 = FloatVector.broadcast(S, x[p + 3]);
                for (int c = c0; c < whole; c += L) {
                    FloatVector acc = FloatVector.fromArray(S, y, c);
                    acc = FloatVector.fromArray(S, w, w0 + c).fma(x0, acc);
                    acc = FloatVector.fromArray(S, w, w1 + c).fma(x1, acc);
                    acc = FloatVector.fromArray(S, w, w2 + c).fma(x2, acc);
                    acc = FloatVector.fromArray(S, w, w3 + c).fma(x3, acc);
                    acc.intoArray(y, c);
                }
            } else {
                for (int c = c0; c < whole; c += L) {
                    FloatVector v0 = FloatVector.fromArray(S, w, w0 + c);
                    FloatVector v1 = FloatVector.fromArray(S, w, w1 + c);
                    FloatVector v2 = FloatVector.fromArray(S, w, w2 + c);
                    FloatVector v3 = FloatVector.fromArray(S, w, w3 + c);
                    for (int r = 0; r < m; r++) {
                        int xo = r * k + p;
                        int yo = r * n + c;
                        FloatVector acc = FloatVector.fromArray(S, y, yo);
                        acc = v0.fma(FloatVector.broadcast(S, x[xo]), acc);
                        acc = v1.fma(FloatVector.broadcast(S, x[xo + 1]), acc);
                        acc = v2.fma(FloatVector.broadcast(S, x[xo + 2]), acc);
                        acc = v3.fma(FloatVector.broadcast(S, x[xo + 3]), acc);
                        acc.intoArray(y, yo);
                    }
                }
            }
            for (int q = p; q < p + P_GROUP; q++) {
                tailColumns(x, m, k, q, w, n, y, whole, c1);
            }
        }
        for (; p < k; p++) {
            int wo = p * n;
            for (int c = c0; c < whole; c += L) {
                FloatVector wv = FloatVector.fromArray(S, w, wo + c);
                for (int r = 0; r < m; r++) {
                    int yo = r * n + c;
                    wv.fma(FloatVector.broadcast(S, x[r * k + p]), FloatVector.fromArray(S, y, yo))
                            .intoArray(y, yo);
                }
            }
            tailColumns(x, m, k, p, w, n, y, whole, c1);
        }
    }

    /** Input p's term of the columns [from, to) past the last whole vector, scalar. */
    private static void tailColumns(float[] x, int m, int k, int p, float[] w, int n, float[] y, int from, int to) {
        for (int c = from; c < to; c++) {
            for (int r = 0; r < m; r++) {
                y[r * n + c] = Math.fma(x[r * k + p], w[p * n + c], y[r * n + c]);
            }
        }
    }

    /** The upper half of each int lane: the odd bf16 of the pair a 32-bit load of bf16 holds. */
    private static final IntVector HIGH_HALF = IntVector.broadcast(SI, 0xffff0000);

    @Override
    public void fewRowsBf16(float[] x, int m, int k, short[] w, int n, float[] bias, float[] y, int c0, int c1) {
        // One full-width load of bf16 patterns holds 2L weights; as L ints, lane i holds weight 2i
        // in its lower half and 2i + 1 in its upper half, so a shift and a mask make the even and
        // the odd columns' fp32 values without any lane shuffle. The outputs are accumulated in
        // that order, in a scratch copy whose every 2L-column chunk holds its L even columns then
        // its L odd ones, and put back in column order at the end. Each output still takes its
        // fused multiply-adds in input order, so the result is the fp32 product's, bit for bit.
        int cols = c1 - c0;
        int whole = cols / (2 * L) * (2 * L);
        float[] acc = new float[m * whole];
        for (int r = 0; r < m; r++) {
            for (int c = 0; c < whole; c += 2 * L) {
                for (int j = 0; j < L; j++) {
                    acc[r * whole + c + j] = bias == null ? 0f : bias[c0 + c + 2 * j];
                    acc[r * whole + c + L + j] = bias == null ? 0f : bias[c0 + c + 2 * j + 1];
                }
            }
            for (int c = c0 + whole; c < c1; c++) {
                y[r * n + c] = bias == null ? 0f : bias[c];
            }
        }
        int p = 0;
        for (; p + P_GROUP <= k; p += P_GROUP) {
            int w0 = p * n + c0;
            int w1 = w0 + n;
            int w2 = w1 + n;
            int w3 = w2 + n;
            if (m == 1) {
                FloatVector x0 = FloatVector.broadcast(S, x[p]);
                FloatVector x1 = FloatVector.broadcast(S, x[p + 1]);
                FloatVector x2 = FloatVector.broadcast(S, x[p + 2]);
                FloatVector x3 = FloatVector.broadcast(S, x[p + 3]);
                for (int c = 0; c < whole; c += 2 * L) {
                    IntVector i0 = ShortVector.fromArray(SW, w, w0 + c).reinterpretAsInts();
                    IntVector i1 = ShortVector.fromArray(SW, w, w1 + c).reinterpretAsInts();
                    IntVector i2 = ShortVector.fromArray(SW, w, w2 + c).reinterpretAsInts();
                    IntVector i3 = ShortVector.fromArray(SW, w, w3 + c).reinterpretAsInts();
                    FloatVector e = FloatVector.fromArray(S, acc, c);
                    FloatVector o = FloatVector.fromArray(S, acc, c + L);
                    e = even(i0).fma(x0, e);
                    o = odd(i0).fma(x0, o);
                    e = even(i1).fma(x1, e);
                    o = odd(i1).fma(x1, o);
                    e = even(i2).fma(x2, e);
                    o = odd(i2).fma(x2, o);
                    e = even(i3).fma(x3, e);
                    o = odd(i3).fma(x3, o);
                    e.intoArray(acc, c);
                    o.intoArray(acc, c + L);
                }
            } else {
                for (int c = 0; c < whole; c += 2 * L) {
                    IntVector i0 = ShortVector.fromArray(SW, w, w0 + c).reinterpretAsInts();
                    IntVector i1 = ShortVector.fromArray(SW, w, w1 + c).reinterpretAsInts();
                    IntVector i2 = ShortVector.fromArray(SW, w, w2 + c).reinterpretAsInts();
                    IntVector i3 = ShortVector.fromArray(SW, w, w3 + c).reinterpretAsInts();
                    FloatVector e0 = even(i0), e1 = even(i1), e2 = even(i2), e3 = even(i3);
                    FloatVector o0 = odd(i0), o1 = odd(i1), o2 = odd(i2), o3 = odd(i3);
                    for (int r = 0; r < m; r++) {
                        int xo = r * k + p;
                        int ao = r * whole + c;
                        FloatVector b0 = FloatVector.broadcast(S, x[xo]);
                        FloatVector b1 = FloatVector.broadcast(S, x[xo + 1]);
                        FloatVector b2 = FloatVector.broadcast(S, x[xo + 2]);
                        FloatVector b3 = FloatVector.broadcast(S, x[xo + 3]);
                        FloatVector e = FloatVector.fromArray(S, acc, ao);
                        FloatVector o = FloatVector.fromArray(S, acc, ao + L);
                        e = e0.fma(b0, e);
                        o = o0.fma(b0, o);
                        e = e1.fma(b1, e);
                        o = o1.fma(b1, o);
                        e = e2.fma(b2, e);
                        o = o2.fma(b2, o);
                        e = e3.fma(b3, e);
                        o = o3.fma(b3, o);
                        e.intoArray(acc, ao);
                        o.intoArray(acc, ao + L);
                    }
                }
            }
            for (int q = p; q < p + P_GROUP; q++) {
                tailColumnsBf16(x, m, k, q, w, n, y, c0 + whole, c1);
            }
        }
        for (; p < k; p++) {
            int wo = p * n + c0;
            for (int c = 0; c < whole; c += 2 * L) {
                IntVector iv = ShortVector.fromArray(SW, w, wo + c).reinterpretAsInts();
                FloatVector ev = even(iv);
                FloatVector ov = odd(iv);
                for (int r = 0; r < m; r++) {
                    int ao = r * whole + c;
                    FloatVector b = FloatVector.broadcast(S, x[r * k + p]);
                    ev.fma(b, FloatVector.fromArray(S, acc, ao)).intoArray(acc, ao);
                    ov.fma(b, FloatVector.fromArray(S, acc, ao + L)).intoArray(acc, ao + L);
                }
            }
            tailColumnsBf16(x, m, k, p, w, n, y, c0 + whole, c1);
        }
        for (int r = 0; r < m; r++) {
            for (int c = 0; c < whole; c += 2 * L) {
                for (int j = 0; j < L; j++) {
                    y[r * n + c0 + c + 2 * j] = acc[r * whole + c + j];
                    y[r * n + c0 + c + 2 * j + 1] = acc[r * whole + c + L + j];
                }
            }
        }
    }

    private static FloatVector even(IntVector pairs) {
        return pairs.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
    }

    private static FloatVector odd(IntVector pairs) {
        return pairs.and(HIGH_HALF).reinterpretAsFloats();
    }

    private static void tailColumnsBf16(float[] x, int m, int k, int p, short[] w, int n, float[] y, int from, int to) {
        for (int c = from; c < to; c++) {
            float wc = Float.intBitsToFloat(w[p * n + c] << 16);
            for (int r = 0; r < m; r++) {
                y[r * n + c] = Math.fma(x[r * k + p], wc, y[r * n + c]);
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
        for (int kc = 0; kc == 0 || kc < k; kc += K_CHUNK) { // K = 0 still writes the bias
            chunk(x, k, w, wBf16, transposed, n, bias, bo, y, yo, ys, r0, r1, c, kc, Math.min(k, kc + K_CHUNK), panel);
        }
    }

    /** Inputs [kc, kEnd) of {@link #run}: the panel packed, then every row tile over it. */
    private void chunk(
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
            int kc,
            int kEnd,
            float[] panel) {
        GemmPanels.pack(w, wBf16, this, transposed, k, n, kc, kEnd, c, Math.min(NR, n - c), NR, panel);
        int r = r0;
        int o = yo;
        for (; r + TILE_ROWS <= r1; r += TILE_ROWS, o += TILE_ROWS * ys) {
            tile4x3(x, r * k, k, panel, 0, kc, kEnd, y, o, ys, bias, bo);
        }
        for (; r < r1; r++, o += ys) {
            row1x3(x, r * k, panel, 0, kc, kEnd, y, o, bias, bo);
        }
    }

    /**
     * K chunk outermost, then the strip's panels: each chunk reads {@link #K_CHUNK} rows of W
     * across the whole strip, segments of consecutive bytes that the prefetcher follows, where a
     * panel at a time would read a narrow column of every row of W (one page, and one TLB entry,
     * per row). The partial sums wait in Y (in L2 for a strip of few rows) between chunks.
     */
    @Override
    public void strip(
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
        int rows = r1 - r0;
        int fullEnd = c0 + (c1 - c0) / NR * NR;
        int tail = c1 - fullEnd;
        float[] yPad = tail > 0 ? new float[rows * NR] : null;
        float[] biasPad = null;
        if (tail > 0 && bias != null) {
            biasPad = new float[NR];
            System.arraycopy(bias, fullEnd, biasPad, 0, tail);
        }
        if (transposed) {
            for (int kc = 0; kc == 0 || kc < k; kc += K_CHUNK) { // K = 0 still writes the bias
                int kEnd = Math.min(k, kc + K_CHUNK);
                for (int c = c0; c < fullEnd; c += NR) {
                    chunk(x, k, w, wBf16, true, n, bias, c, y, r0 * n + c, n, r0, r1, c, kc, kEnd, scratch);
                }
                if (tail > 0) {
                    chunk(x, k, w, wBf16, true, n, biasPad, 0, yPad, 0, NR, r0, r1, fullEnd, kc, kEnd, scratch);
                }
            }
        } else {
            // Each chunk of STRIP_K rows of W is packed whole, row after row: every row's segment
            // across the strip is read once, front to back (one stream at a time, which the
            // prefetcher follows), into the panels' packed layout, (panel, input, NR), in L2.
            int panels = (c1 - c0 + NR - 1) / NR;
            float[] packed = new float[STRIP_K * panels * NR];
            for (int kc = 0; kc == 0 || kc < k; kc += STRIP_K) { // K = 0 still writes the bias
                int kEnd = Math.min(k, kc + STRIP_K);
                int chunkRows = kEnd - kc;
                for (int q = kc; q < kEnd; q++) {
                    for (int j = 0; j < panels; j++) {
                        int c = c0 + j * NR;
                        GemmPanels.pack(
                                w,
                                wBf16,
                                this,
                                false,
                                k,
                                n,
                                q,
                                q + 1,
                                c,
                                Math.min(NR, n - c),
                                NR,
                                packed,
                                (j * chunkRows + q - kc) * NR);
                    }
                }
                for (int j = 0; j < panels; j++) {
                    int c = c0 + j * NR;
                    int po = j * chunkRows * NR;
                    boolean narrow = c >= fullEnd;
                    float[] yt = narrow ? yPad : y;
                    float[] bt = narrow ? biasPad : bias;
                    int bo = narrow ? 0 : c;
                    int ys = narrow ? NR : n;
                    int r = r0;
                    int o = narrow ? 0 : r0 * n + c;
                    for (; r + TILE_ROWS <= r1; r += TILE_ROWS, o += TILE_ROWS * ys) {
                        tile4x3(x, r * k, k, packed, po, kc, kEnd, yt, o, ys, bt, bo);
                    }
                    for (; r < r1; r++, o += ys) {
                        row1x3(x, r * k, packed, po, kc, kEnd, yt, o, bt, bo);
                    }
                }
            }
        }
        for (int r = 0; tail > 0 && r < rows; r++) {
            System.arraycopy(yPad, r * NR, y, (r0 + r) * n + fullEnd, tail);
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
            int po,
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
        for (int p = kc, wp = po; p < kEnd; p++, wp += NR) {
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
            float[] x, int xr, float[] panel, int po, int kc, int kEnd, float[] y, int y0, float[] bias, int bo) {
        FloatVector a0 = start(bias, bo, y, y0, kc);
        FloatVector a1 = start(bias, bo + L, y, y0 + L, kc);
        FloatVector a2 = start(bias, bo + 2 * L, y, y0 + 2 * L, kc);
        for (int p = kc, wp = po; p < kEnd; p++, wp += NR) {
            FloatVector v = FloatVector.broadcast(S, x[xr + p]);
            a0 = FloatVector.fromArray(S, panel, wp).fma(v, a0);
            a1 = FloatVector.fromArray(S, panel, wp + L).fma(v, a1);
            a2 = FloatVector.fromArray(S, panel, wp + 2 * L).fma(v, a2);
        }
        store3(y, y0, a0, a1, a2);
    }
}

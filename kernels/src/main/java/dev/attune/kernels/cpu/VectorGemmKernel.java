package dev.attune.kernels.cpu;

import java.util.Arrays;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * GEMM kernel on the JDK Vector API over packed weight panels ({@link PanelMatrix}).
 *
 * <p>Register tile: 4 rows by 4 vectors of columns (16 accumulators; with 512-bit vectors the
 * tile is a whole 64-column panel), held in registers across a K chunk: per step 4 weight vectors
 * (from 4 fp32 loads, or 2 bf16 loads split by a shift and a mask) and 4 broadcasts feed 16 fused
 * multiply-adds. Between chunks the partial sums wait in Y and the next chunk resumes from them,
 * so every output is summed in input order whatever the chunking. A chunk of a panel is {@link
 * #K_CHUNK} contiguous rows (128 KB of fp32, 64 KB of bf16), which stays in L2 while every row
 * tile of the unit passes over it (512 rows ran 5–10% faster than 128 at M = 16, 64 and 512: fewer
 * partial sums to store and reload); rows left over from the tiles run one at a time over it.
 * On x86 without AVX-512 fp32 panels use a 6-row by 2-vector tile instead ({@link #NARROW}).
 *
 * <p>A single row (a decode step of one sequence) has no reuse to wait for: it streams two panels
 * at once through the whole of K with 8 accumulators, two sequential reads in flight per core.
 *
 * <p>JIT hazard: a vector passed to or returned from a method that C2 does not inline is boxed,
 * and a boxed accumulator turns the loop into allocations (ten times slower). Helpers on vectors
 * stay within the always-inline size (35 bytecodes: {@code low}, {@code high}); loads and stores
 * of a tile are written out in the tile.
 *
 * <p>Only loaded when the {@code jdk.incubator.vector} module is in the boot layer; see
 * {@link CpuGemm}.
 */
final class VectorGemmKernel implements GemmKernel {

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int L = S.length();
    private static final VectorSpecies<Integer> SI = VectorSpecies.of(int.class, S.vectorShape());
    /** 2L bf16 patterns: one full-width load, L pairs. */
    private static final VectorSpecies<Short> SW = VectorSpecies.of(short.class, S.vectorShape());
    /** The upper half of each int lane: the second column of a bf16 pair. */
    private static final IntVector HIGH_HALF = IntVector.broadcast(SI, 0xffff0000);

    private static final int W = PanelMatrix.WIDTH;
    /** Columns of one register tile; a panel holds W / TILE_COLS of them (one with 512-bit vectors). */
    private static final int TILE_COLS = 4 * L;
    /**
     * Whether the vector registers are too few for the 4 × 4 tile: x86 below AVX-512 has 16 (the
     * tile needs 16 accumulators, 4 weight vectors and a broadcast, and C2 would spill
     * accumulators in the inner loop: a third of the FMA rate on a Zen 2), AVX-512 and AArch64
     * have 32. Those run fp32 panels through a 6-row × 2-vector tile instead (12 accumulators, 2
     * weight vectors, a broadcast: 15 registers), the shape of the classic AVX2 SGEMM kernels.
     * bf16 panels keep the 4 × 4 tile there, measured faster on a Zen 2 at M = 16 and 256 (41
     * against 31 and 47 against 40 GFLOP/s): their weight vectors are made from two loads just
     * before use. Each output's sum is the same sequence of FMAs either way. {@code -Dattune.cpu.gemmTile=wide|narrow} overrides the
     * choice (for benchmarks).
     */
    static final boolean NARROW = switch (System.getProperty("attune.cpu.gemmTile", "auto")) {
        case "narrow" -> true;
        case "wide" -> false;
        default -> isX86() && S.vectorBitSize() < 512;
    };
    /** Columns of one narrow tile. */
    private static final int NARROW_COLS = 2 * L;
    /** Panel rows per K chunk. */
    private static final int K_CHUNK = 512;

    private final boolean narrow;

    /** The tile this platform's register file suits ({@link #NARROW}). */
    VectorGemmKernel() {
        this(NARROW);
    }

    /** A chosen tile, for tests that check both on any machine. */
    VectorGemmKernel(boolean narrow) {
        this.narrow = narrow;
    }

    @Override
    public int pairLanes() {
        return L;
    }

    @Override
    public void panel(float[] x, int k, PanelMatrix w, float[] bias, float[] y, int r0, int r1, int j) {
        check(w);
        int n = w.cols();
        int c0 = j * W;
        int cols = Math.min(W, n - c0);
        // A narrower (last) panel runs the same whole-vector loops on a padded copy of its
        // outputs, so the hot loops never need lane masks.
        boolean full = cols == W;
        float[] yt = full ? y : new float[(r1 - r0) * W];
        int ys = full ? n : W;
        int yo = full ? r0 * n + c0 : 0;
        // Every sum starts from the bias (or zero), put in Y first: the tiles then resume from Y
        // at every chunk, the first included.
        for (int r = 0; r < r1 - r0; r++) {
            fromBias(bias, j, n, yt, yo + r * ys);
        }
        for (int kc = 0; kc < k; kc += K_CHUNK) {
            int kEnd = Math.min(k, kc + K_CHUNK);
            if (narrow && !w.isBf16()) {
                for (int cg = 0; cg < W; cg += NARROW_COLS) {
                    int po = w.offset(j, 0) + cg;
                    int r = r0;
                    int o = yo + cg;
                    for (; r + 6 <= r1; r += 6, o += 6 * ys) {
                        tile6x2(x, r * k, k, w.f32(), po, kc, kEnd, yt, o, ys);
                    }
                    // Four of the (at most five) rows left share one pass over the weights.
                    if (r + 4 <= r1) {
                        tile4x2(x, r * k, k, w.f32(), po, kc, kEnd, yt, o, ys);
                        r += 4;
                        o += 4 * ys;
                    }
                    for (; r < r1; r++, o += ys) {
                        tile1x2(x, r * k, w.f32(), po, kc, kEnd, yt, o);
                    }
                }
                continue;
            }
            for (int cg = 0; cg < W; cg += TILE_COLS) {
                int po = w.offset(j, 0) + cg;
                int r = r0;
                int o = yo + cg;
                for (; r + 4 <= r1; r += 4, o += 4 * ys) {
                    if (w.isBf16()) {
                        tile4Bf16(x, r * k, k, w.bf16(), po, kc, kEnd, yt, o, ys);
                    } else {
                        tile4(x, r * k, k, w.f32(), po, kc, kEnd, yt, o, ys);
                    }
                }
                for (; r < r1; r++, o += ys) {
                    if (w.isBf16()) {
                        tile1Bf16(x, r * k, w.bf16(), po, kc, kEnd, yt, o);
                    } else {
                        tile1(x, r * k, w.f32(), po, kc, kEnd, yt, o);
                    }
                }
            }
        }
        if (!full) {
            for (int r = r0; r < r1; r++) {
                System.arraycopy(yt, (r - r0) * W, y, r * n + c0, cols);
            }
        }
    }

    @Override
    public void row(float[] x, int k, PanelMatrix w, float[] bias, float[] y, int j0, int j1) {
        check(w);
        // Panels j and j + half together: two streams, each front to back through K. Their sums
        // start from the bias, copied (zero-padded past N) into the two halves of acc.
        int half = (j1 - j0) / 2;
        int n = w.cols();
        float[] acc = new float[2 * W];
        for (int j = j0; j < j0 + half; j++) {
            int a = j;
            int b = j + half;
            fromBias(bias, a, n, acc, 0);
            fromBias(bias, b, n, acc, W);
            for (int cg = 0; cg < W; cg += TILE_COLS) {
                if (w.isBf16()) {
                    row2Bf16(x, k, w.bf16(), w.offset(a, 0) + cg, w.offset(b, 0) + cg, acc, cg);
                } else {
                    row2(x, k, w.f32(), w.offset(a, 0) + cg, w.offset(b, 0) + cg, acc, cg);
                }
            }
            System.arraycopy(acc, 0, y, a * W, Math.min(W, n - a * W));
            System.arraycopy(acc, W, y, b * W, Math.min(W, n - b * W));
        }
        if ((j1 - j0) % 2 == 1) {
            panel(x, k, w, bias, y, 0, 1, j1 - 1);
        }
    }

    /**
     * Panel j's bias (or zeros) into {@code acc[at, at + W)}, zeros past N. Y rows of a full panel
     * get exactly W values, so nothing past the panel is written.
     */
    private static void fromBias(float[] bias, int j, int n, float[] acc, int at) {
        int cols = Math.min(W, n - j * W);
        if (bias != null) {
            System.arraycopy(bias, j * W, acc, at, cols);
        } else {
            Arrays.fill(acc, at, at + cols, 0f);
        }
        Arrays.fill(acc, at + cols, at + W, 0f);
    }

    private static boolean isX86() {
        String arch = System.getProperty("os.arch", "");
        return arch.equals("amd64") || arch.equals("x86_64") || arch.equals("x86") || arch.equals("i386");
    }

    private static void check(PanelMatrix w) {
        if (w.isBf16() && w.pairLanes() != L) {
            throw new IllegalArgumentException(w + " is interleaved for " + w.pairLanes() + " lanes, not " + L);
        }
    }

    private static FloatVector low(IntVector pairs) {
        return pairs.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
    }

    private static FloatVector high(IntVector pairs) {
        return pairs.and(HIGH_HALF).reinterpretAsFloats();
    }

    /** Rows x0/k .. +4 of X, inputs [kc, kEnd), against fp32 panel rows from {@code po} (row kc at po + kc·W). */
    private static void tile4(
            float[] x, int x0, int k, float[] w, int po, int kc, int kEnd, float[] y, int y0, int ys) {
        int y1 = y0 + ys;
        int y2 = y1 + ys;
        int y3 = y2 + ys;
        FloatVector a00 = FloatVector.fromArray(S, y, y0);
        FloatVector a01 = FloatVector.fromArray(S, y, y0 + L);
        FloatVector a02 = FloatVector.fromArray(S, y, y0 + 2 * L);
        FloatVector a03 = FloatVector.fromArray(S, y, y0 + 3 * L);
        FloatVector a10 = FloatVector.fromArray(S, y, y1);
        FloatVector a11 = FloatVector.fromArray(S, y, y1 + L);
        FloatVector a12 = FloatVector.fromArray(S, y, y1 + 2 * L);
        FloatVector a13 = FloatVector.fromArray(S, y, y1 + 3 * L);
        FloatVector a20 = FloatVector.fromArray(S, y, y2);
        FloatVector a21 = FloatVector.fromArray(S, y, y2 + L);
        FloatVector a22 = FloatVector.fromArray(S, y, y2 + 2 * L);
        FloatVector a23 = FloatVector.fromArray(S, y, y2 + 3 * L);
        FloatVector a30 = FloatVector.fromArray(S, y, y3);
        FloatVector a31 = FloatVector.fromArray(S, y, y3 + L);
        FloatVector a32 = FloatVector.fromArray(S, y, y3 + 2 * L);
        FloatVector a33 = FloatVector.fromArray(S, y, y3 + 3 * L);
        int x1 = x0 + k;
        int x2 = x1 + k;
        int x3 = x2 + k;
        for (int p = kc, wp = po + kc * W; p < kEnd; p++, wp += W) {
            FloatVector w0 = FloatVector.fromArray(S, w, wp);
            FloatVector w1 = FloatVector.fromArray(S, w, wp + L);
            FloatVector w2 = FloatVector.fromArray(S, w, wp + 2 * L);
            FloatVector w3 = FloatVector.fromArray(S, w, wp + 3 * L);
            FloatVector v = FloatVector.broadcast(S, x[x0 + p]);
            a00 = w0.fma(v, a00);
            a01 = w1.fma(v, a01);
            a02 = w2.fma(v, a02);
            a03 = w3.fma(v, a03);
            v = FloatVector.broadcast(S, x[x1 + p]);
            a10 = w0.fma(v, a10);
            a11 = w1.fma(v, a11);
            a12 = w2.fma(v, a12);
            a13 = w3.fma(v, a13);
            v = FloatVector.broadcast(S, x[x2 + p]);
            a20 = w0.fma(v, a20);
            a21 = w1.fma(v, a21);
            a22 = w2.fma(v, a22);
            a23 = w3.fma(v, a23);
            v = FloatVector.broadcast(S, x[x3 + p]);
            a30 = w0.fma(v, a30);
            a31 = w1.fma(v, a31);
            a32 = w2.fma(v, a32);
            a33 = w3.fma(v, a33);
        }
        a00.intoArray(y, y0);
        a01.intoArray(y, y0 + L);
        a02.intoArray(y, y0 + 2 * L);
        a03.intoArray(y, y0 + 3 * L);
        a10.intoArray(y, y1);
        a11.intoArray(y, y1 + L);
        a12.intoArray(y, y1 + 2 * L);
        a13.intoArray(y, y1 + 3 * L);
        a20.intoArray(y, y2);
        a21.intoArray(y, y2 + L);
        a22.intoArray(y, y2 + 2 * L);
        a23.intoArray(y, y2 + 3 * L);
        a30.intoArray(y, y3);
        a31.intoArray(y, y3 + L);
        a32.intoArray(y, y3 + 2 * L);
        a33.intoArray(y, y3 + 3 * L);
    }

    /** As {@link #tile4} over pair-interleaved bf16 panel rows: 2 loads give the 4 weight vectors. */
    private static void tile4Bf16(
            float[] x, int x0, int k, short[] w, int po, int kc, int kEnd, float[] y, int y0, int ys) {
        int y1 = y0 + ys;
        int y2 = y1 + ys;
        int y3 = y2 + ys;
        FloatVector a00 = FloatVector.fromArray(S, y, y0);
        FloatVector a01 = FloatVector.fromArray(S, y, y0 + L);
        FloatVector a02 = FloatVector.fromArray(S, y, y0 + 2 * L);
        FloatVector a03 = FloatVector.fromArray(S, y, y0 + 3 * L);
        FloatVector a10 = FloatVector.fromArray(S, y, y1);
        FloatVector a11 = FloatVector.fromArray(S, y, y1 + L);
        FloatVector a12 = FloatVector.fromArray(S, y, y1 + 2 * L);
        FloatVector a13 = FloatVector.fromArray(S, y, y1 + 3 * L);
        FloatVector a20 = FloatVector.fromArray(S, y, y2);
        FloatVector a21 = FloatVector.fromArray(S, y, y2 + L);
        FloatVector a22 = FloatVector.fromArray(S, y, y2 + 2 * L);
        FloatVector a23 = FloatVector.fromArray(S, y, y2 + 3 * L);
        FloatVector a30 = FloatVector.fromArray(S, y, y3);
        FloatVector a31 = FloatVector.fromArray(S, y, y3 + L);
        FloatVector a32 = FloatVector.fromArray(S, y, y3 + 2 * L);
        FloatVector a33 = FloatVector.fromArray(S, y, y3 + 3 * L);
        int x1 = x0 + k;
        int x2 = x1 + k;
        int x3 = x2 + k;
        for (int p = kc, wp = po + kc * W; p < kEnd; p++, wp += W) {
            IntVector i0 = ShortVector.fromArray(SW, w, wp).reinterpretAsInts();
            IntVector i1 = ShortVector.fromArray(SW, w, wp + 2 * L).reinterpretAsInts();
            FloatVector w0 = low(i0);
            FloatVector w1 = high(i0);
            FloatVector w2 = low(i1);
            FloatVector w3 = high(i1);
            FloatVector v = FloatVector.broadcast(S, x[x0 + p]);
            a00 = w0.fma(v, a00);
            a01 = w1.fma(v, a01);
            a02 = w2.fma(v, a02);
            a03 = w3.fma(v, a03);
            v = FloatVector.broadcast(S, x[x1 + p]);
            a10 = w0.fma(v, a10);
            a11 = w1.fma(v, a11);
            a12 = w2.fma(v, a12);
            a13 = w3.fma(v, a13);
            v = FloatVector.broadcast(S, x[x2 + p]);
            a20 = w0.fma(v, a20);
            a21 = w1.fma(v, a21);
            a22 = w2.fma(v, a22);
            a23 = w3.fma(v, a23);
            v = FloatVector.broadcast(S, x[x3 + p]);
            a30 = w0.fma(v, a30);
            a31 = w1.fma(v, a31);
            a32 = w2.fma(v, a32);
            a33 = w3.fma(v, a33);
        }
        a00.intoArray(y, y0);
        a01.intoArray(y, y0 + L);
        a02.intoArray(y, y0 + 2 * L);
        a03.intoArray(y, y0 + 3 * L);
        a10.intoArray(y, y1);
        a11.intoArray(y, y1 + L);
        a12.intoArray(y, y1 + 2 * L);
        a13.intoArray(y, y1 + 3 * L);
        a20.intoArray(y, y2);
        a21.intoArray(y, y2 + L);
        a22.intoArray(y, y2 + 2 * L);
        a23.intoArray(y, y2 + 3 * L);
        a30.intoArray(y, y3);
        a31.intoArray(y, y3 + L);
        a32.intoArray(y, y3 + 2 * L);
        a33.intoArray(y, y3 + 3 * L);
    }

    /** Rows x0/k .. +6 of X, inputs [kc, kEnd), against 2 vectors of fp32 panel columns from {@code po}. */
    private static void tile6x2(
            float[] x, int x0, int k, float[] w, int po, int kc, int kEnd, float[] y, int y0, int ys) {
        FloatVector a00 = FloatVector.fromArray(S, y, y0);
        FloatVector a01 = FloatVector.fromArray(S, y, y0 + L);
        FloatVector a10 = FloatVector.fromArray(S, y, y0 + ys);
        FloatVector a11 = FloatVector.fromArray(S, y, y0 + ys + L);
        FloatVector a20 = FloatVector.fromArray(S, y, y0 + 2 * ys);
        FloatVector a21 = FloatVector.fromArray(S, y, y0 + 2 * ys + L);
        FloatVector a30 = FloatVector.fromArray(S, y, y0 + 3 * ys);
        FloatVector a31 = FloatVector.fromArray(S, y, y0 + 3 * ys + L);
        FloatVector a40 = FloatVector.fromArray(S, y, y0 + 4 * ys);
        FloatVector a41 = FloatVector.fromArray(S, y, y0 + 4 * ys + L);
        FloatVector a50 = FloatVector.fromArray(S, y, y0 + 5 * ys);
        FloatVector a51 = FloatVector.fromArray(S, y, y0 + 5 * ys + L);
        for (int p = kc, wp = po + kc * W; p < kEnd; p++, wp += W) {
            FloatVector w0 = FloatVector.fromArray(S, w, wp);
            FloatVector w1 = FloatVector.fromArray(S, w, wp + L);
            FloatVector v = FloatVector.broadcast(S, x[x0 + p]);
            a00 = w0.fma(v, a00);
            a01 = w1.fma(v, a01);
            v = FloatVector.broadcast(S, x[x0 + k + p]);
            a10 = w0.fma(v, a10);
            a11 = w1.fma(v, a11);
            v = FloatVector.broadcast(S, x[x0 + 2 * k + p]);
            a20 = w0.fma(v, a20);
            a21 = w1.fma(v, a21);
            v = FloatVector.broadcast(S, x[x0 + 3 * k + p]);
            a30 = w0.fma(v, a30);
            a31 = w1.fma(v, a31);
            v = FloatVector.broadcast(S, x[x0 + 4 * k + p]);
            a40 = w0.fma(v, a40);
            a41 = w1.fma(v, a41);
            v = FloatVector.broadcast(S, x[x0 + 5 * k + p]);
            a50 = w0.fma(v, a50);
            a51 = w1.fma(v, a51);
        }
        a00.intoArray(y, y0);
        a01.intoArray(y, y0 + L);
        a10.intoArray(y, y0 + ys);
        a11.intoArray(y, y0 + ys + L);
        a20.intoArray(y, y0 + 2 * ys);
        a21.intoArray(y, y0 + 2 * ys + L);
        a30.intoArray(y, y0 + 3 * ys);
        a31.intoArray(y, y0 + 3 * ys + L);
        a40.intoArray(y, y0 + 4 * ys);
        a41.intoArray(y, y0 + 4 * ys + L);
        a50.intoArray(y, y0 + 5 * ys);
        a51.intoArray(y, y0 + 5 * ys + L);
    }

    /** As {@link #tile6x2} for four rows (of the rows a 6-row split leaves). */
    private static void tile4x2(
            float[] x, int x0, int k, float[] w, int po, int kc, int kEnd, float[] y, int y0, int ys) {
        FloatVector a00 = FloatVector.fromArray(S, y, y0);
        FloatVector a01 = FloatVector.fromArray(S, y, y0 + L);
        FloatVector a10 = FloatVector.fromArray(S, y, y0 + ys);
        FloatVector a11 = FloatVector.fromArray(S, y, y0 + ys + L);
        FloatVector a20 = FloatVector.fromArray(S, y, y0 + 2 * ys);
        FloatVector a21 = FloatVector.fromArray(S, y, y0 + 2 * ys + L);
        FloatVector a30 = FloatVector.fromArray(S, y, y0 + 3 * ys);
        FloatVector a31 = FloatVector.fromArray(S, y, y0 + 3 * ys + L);
        for (int p = kc, wp = po + kc * W; p < kEnd; p++, wp += W) {
            FloatVector w0 = FloatVector.fromArray(S, w, wp);
            FloatVector w1 = FloatVector.fromArray(S, w, wp + L);
            FloatVector v = FloatVector.broadcast(S, x[x0 + p]);
            a00 = w0.fma(v, a00);
            a01 = w1.fma(v, a01);
            v = FloatVector.broadcast(S, x[x0 + k + p]);
            a10 = w0.fma(v, a10);
            a11 = w1.fma(v, a11);
            v = FloatVector.broadcast(S, x[x0 + 2 * k + p]);
            a20 = w0.fma(v, a20);
            a21 = w1.fma(v, a21);
            v = FloatVector.broadcast(S, x[x0 + 3 * k + p]);
            a30 = w0.fma(v, a30);
            a31 = w1.fma(v, a31);
        }
        a00.intoArray(y, y0);
        a01.intoArray(y, y0 + L);
        a10.intoArray(y, y0 + ys);
        a11.intoArray(y, y0 + ys + L);
        a20.intoArray(y, y0 + 2 * ys);
        a21.intoArray(y, y0 + 2 * ys + L);
        a30.intoArray(y, y0 + 3 * ys);
        a31.intoArray(y, y0 + 3 * ys + L);
    }

    /** One row against 2 vectors of fp32 panel columns, inputs [kc, kEnd). */
    private static void tile1x2(float[] x, int xr, float[] w, int po, int kc, int kEnd, float[] y, int y0) {
        FloatVector a0 = FloatVector.fromArray(S, y, y0);
        FloatVector a1 = FloatVector.fromArray(S, y, y0 + L);
        for (int p = kc, wp = po + kc * W; p < kEnd; p++, wp += W) {
            FloatVector v = FloatVector.broadcast(S, x[xr + p]);
            a0 = FloatVector.fromArray(S, w, wp).fma(v, a0);
            a1 = FloatVector.fromArray(S, w, wp + L).fma(v, a1);
        }
        a0.intoArray(y, y0);
        a1.intoArray(y, y0 + L);
    }

    /** One row, inputs [kc, kEnd), fp32 panel rows. */
    private static void tile1(float[] x, int xr, float[] w, int po, int kc, int kEnd, float[] y, int y0) {
        FloatVector a0 = FloatVector.fromArray(S, y, y0);
        FloatVector a1 = FloatVector.fromArray(S, y, y0 + L);
        FloatVector a2 = FloatVector.fromArray(S, y, y0 + 2 * L);
        FloatVector a3 = FloatVector.fromArray(S, y, y0 + 3 * L);
        for (int p = kc, wp = po + kc * W; p < kEnd; p++, wp += W) {
            FloatVector v = FloatVector.broadcast(S, x[xr + p]);
            a0 = FloatVector.fromArray(S, w, wp).fma(v, a0);
            a1 = FloatVector.fromArray(S, w, wp + L).fma(v, a1);
            a2 = FloatVector.fromArray(S, w, wp + 2 * L).fma(v, a2);
            a3 = FloatVector.fromArray(S, w, wp + 3 * L).fma(v, a3);
        }
        a0.intoArray(y, y0);
        a1.intoArray(y, y0 + L);
        a2.intoArray(y, y0 + 2 * L);
        a3.intoArray(y, y0 + 3 * L);
    }

    /** One row, inputs [kc, kEnd), bf16 panel rows. */
    private static void tile1Bf16(float[] x, int xr, short[] w, int po, int kc, int kEnd, float[] y, int y0) {
        FloatVector a0 = FloatVector.fromArray(S, y, y0);
        FloatVector a1 = FloatVector.fromArray(S, y, y0 + L);
        FloatVector a2 = FloatVector.fromArray(S, y, y0 + 2 * L);
        FloatVector a3 = FloatVector.fromArray(S, y, y0 + 3 * L);
        for (int p = kc, wp = po + kc * W; p < kEnd; p++, wp += W) {
            FloatVector v = FloatVector.broadcast(S, x[xr + p]);
            IntVector i0 = ShortVector.fromArray(SW, w, wp).reinterpretAsInts();
            IntVector i1 = ShortVector.fromArray(SW, w, wp + 2 * L).reinterpretAsInts();
            a0 = low(i0).fma(v, a0);
            a1 = high(i0).fma(v, a1);
            a2 = low(i1).fma(v, a2);
            a3 = high(i1).fma(v, a3);
        }
        a0.intoArray(y, y0);
        a1.intoArray(y, y0 + L);
        a2.intoArray(y, y0 + 2 * L);
        a3.intoArray(y, y0 + 3 * L);
    }

    /**
     * Row 0 over all of K against two fp32 panel column groups (from {@code pa} and {@code pb}),
     * from and into acc (the first panel's at [cg, ..), the second's at [W + cg, ..)).
     */
    private static void row2(float[] x, int k, float[] w, int pa, int pb, float[] acc, int cg) {
        FloatVector a0 = FloatVector.fromArray(S, acc, cg);
        FloatVector a1 = FloatVector.fromArray(S, acc, cg + L);
        FloatVector a2 = FloatVector.fromArray(S, acc, cg + 2 * L);
        FloatVector a3 = FloatVector.fromArray(S, acc, cg + 3 * L);
        FloatVector b0 = FloatVector.fromArray(S, acc, W + cg);
        FloatVector b1 = FloatVector.fromArray(S, acc, W + cg + L);
        FloatVector b2 = FloatVector.fromArray(S, acc, W + cg + 2 * L);
        FloatVector b3 = FloatVector.fromArray(S, acc, W + cg + 3 * L);
        for (int p = 0, wa = pa, wb = pb; p < k; p++, wa += W, wb += W) {
            FloatVector v = FloatVector.broadcast(S, x[p]);
            a0 = FloatVector.fromArray(S, w, wa).fma(v, a0);
            a1 = FloatVector.fromArray(S, w, wa + L).fma(v, a1);
            a2 = FloatVector.fromArray(S, w, wa + 2 * L).fma(v, a2);
            a3 = FloatVector.fromArray(S, w, wa + 3 * L).fma(v, a3);
            b0 = FloatVector.fromArray(S, w, wb).fma(v, b0);
            b1 = FloatVector.fromArray(S, w, wb + L).fma(v, b1);
            b2 = FloatVector.fromArray(S, w, wb + 2 * L).fma(v, b2);
            b3 = FloatVector.fromArray(S, w, wb + 3 * L).fma(v, b3);
        }
        a0.intoArray(acc, cg);
        a1.intoArray(acc, cg + L);
        a2.intoArray(acc, cg + 2 * L);
        a3.intoArray(acc, cg + 3 * L);
        b0.intoArray(acc, W + cg);
        b1.intoArray(acc, W + cg + L);
        b2.intoArray(acc, W + cg + 2 * L);
        b3.intoArray(acc, W + cg + 3 * L);
    }

    /** As {@link #row2} over bf16 panel rows. */
    private static void row2Bf16(float[] x, int k, short[] w, int pa, int pb, float[] acc, int cg) {
        FloatVector a0 = FloatVector.fromArray(S, acc, cg);
        FloatVector a1 = FloatVector.fromArray(S, acc, cg + L);
        FloatVector a2 = FloatVector.fromArray(S, acc, cg + 2 * L);
        FloatVector a3 = FloatVector.fromArray(S, acc, cg + 3 * L);
        FloatVector b0 = FloatVector.fromArray(S, acc, W + cg);
        FloatVector b1 = FloatVector.fromArray(S, acc, W + cg + L);
        FloatVector b2 = FloatVector.fromArray(S, acc, W + cg + 2 * L);
        FloatVector b3 = FloatVector.fromArray(S, acc, W + cg + 3 * L);
        for (int p = 0, wa = pa, wb = pb; p < k; p++, wa += W, wb += W) {
            FloatVector v = FloatVector.broadcast(S, x[p]);
            IntVector i0 = ShortVector.fromArray(SW, w, wa).reinterpretAsInts();
            IntVector i1 = ShortVector.fromArray(SW, w, wa + 2 * L).reinterpretAsInts();
            IntVector j0 = ShortVector.fromArray(SW, w, wb).reinterpretAsInts();
            IntVector j1 = ShortVector.fromArray(SW, w, wb + 2 * L).reinterpretAsInts();
            a0 = low(i0).fma(v, a0);
            a1 = high(i0).fma(v, a1);
            a2 = low(i1).fma(v, a2);
            a3 = high(i1).fma(v, a3);
            b0 = low(j0).fma(v, b0);
            b1 = high(j0).fma(v, b1);
            b2 = low(j1).fma(v, b2);
            b3 = high(j1).fma(v, b3);
        }
        a0.intoArray(acc, cg);
        a1.intoArray(acc, cg + L);
        a2.intoArray(acc, cg + 2 * L);
        a3.intoArray(acc, cg + 3 * L);
        b0.intoArray(acc, W + cg);
        b1.intoArray(acc, W + cg + L);
        b2.intoArray(acc, W + cg + 2 * L);
        b3.intoArray(acc, W + cg + 3 * L);
    }
}

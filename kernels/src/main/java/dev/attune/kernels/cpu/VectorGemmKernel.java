package dev.attune.kernels.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * GEMM kernel on the JDK Vector API.
 *
 * <p>Register tile: 4 rows by 3 vectors of columns (12 accumulators; with 512-bit vectors that is
 * 4 x 48 outputs), held in registers across the whole K loop: per step 3 weight loads and 4
 * broadcasts feed 12 fused multiply-adds. (A 6 x 4 tile needs more registers than C2 keeps the
 * Vector API's values in, and runs three times slower.)
 *
 * <p>Cache blocking: rows are taken {@link #ROW_CHUNK} at a time and, within a chunk, the column
 * panels are the outer loop, so one (K x 3 vectors) weight panel stays in L2 while every row of
 * the chunk uses it, instead of the whole weight matrix streaming from memory for every tile;
 * K is walked in chunks of {@link #K_CHUNK} so that panel stays small whatever K is.
 *
 * <p>Only loaded when the {@code jdk.incubator.vector} module is in the boot layer; see
 * {@link CpuGemm}.
 */
final class VectorGemmKernel implements GemmKernel {

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int L = S.length();
    private static final int TILE_ROWS = 4;
    private static final int TILE_COLS = 3 * L;
    private static final int ROW_CHUNK = 96;
    /** Inputs per K chunk: a 512 x 3-vector panel (96 KB with 512-bit vectors) stays in L2. */
    private static final int K_CHUNK = 512;

    @Override
    public void rows(float[] x, int k, float[] w, int n, float[] bias, float[] y, int r0, int r1) {
        for (int rc = r0; rc < r1; rc += ROW_CHUNK) {
            int rcEnd = Math.min(r1, rc + ROW_CHUNK);
            // K is walked in chunks so that the (chunk x 3 vectors) weight panel a tile reads stays
            // in L2 for every tile of the row chunk, however long K is (a decoder's down projection
            // has K = 5632: a whole-K panel of 1.1 MB fell out of L2 and ran at a sixth of the speed).
            // A tile's partial sums go to y between chunks; the next chunk resumes from them, so
            // every output is summed in the same order as without chunking.
            for (int kc = 0; kc == 0 || kc < k; kc += K_CHUNK) { // K = 0 still writes the bias
                int kEnd = Math.min(k, kc + K_CHUNK);
                int c = 0;
                for (; c + TILE_COLS <= n; c += TILE_COLS) {
                    int r = rc;
                    for (; r + TILE_ROWS <= rcEnd; r += TILE_ROWS) {
                        tile4x3(x, k, w, n, bias, y, r, c, kc, kEnd);
                    }
                    for (; r < rcEnd; r++) {
                        row1(x, k, w, n, bias, y, r, c, c + TILE_COLS, kc, kEnd);
                    }
                }
                if (c < n) {
                    for (int r = rc; r < rcEnd; r++) {
                        row1(x, k, w, n, bias, y, r, c, n, kc, kEnd);
                    }
                }
            }
        }
    }

    /** The accumulator a tile starts a K chunk from: the bias (or zero) at the first chunk, else what y holds. */
    private static FloatVector start(float[] bias, float[] y, int yo, int c, int kc) {
        if (kc > 0) {
            return FloatVector.fromArray(S, y, yo);
        }
        return bias == null ? FloatVector.zero(S) : FloatVector.fromArray(S, bias, c);
    }

    private static void tile4x3(
            float[] x, int k, float[] w, int n, float[] bias, float[] y, int r, int c, int kc, int kEnd) {
        int y0 = r * n + c;
        int y1 = y0 + n;
        int y2 = y1 + n;
        int y3 = y2 + n;
        FloatVector a00 = start(bias, y, y0, c, kc), a01 = start(bias, y, y0 + L, c + L, kc);
        FloatVector a02 = start(bias, y, y0 + 2 * L, c + 2 * L, kc);
        FloatVector a10 = start(bias, y, y1, c, kc), a11 = start(bias, y, y1 + L, c + L, kc);
        FloatVector a12 = start(bias, y, y1 + 2 * L, c + 2 * L, kc);
        FloatVector a20 = start(bias, y, y2, c, kc), a21 = start(bias, y, y2 + L, c + L, kc);
        FloatVector a22 = start(bias, y, y2 + 2 * L, c + 2 * L, kc);
        FloatVector a30 = start(bias, y, y3, c, kc), a31 = start(bias, y, y3 + L, c + L, kc);
        FloatVector a32 = start(bias, y, y3 + 2 * L, c + 2 * L, kc);
        int x0 = r * k;
        int x1 = x0 + k;
        int x2 = x1 + k;
        int x3 = x2 + k;
        for (int p = kc; p < kEnd; p++) {
            int wp = p * n + c;
            FloatVector w0 = FloatVector.fromArray(S, w, wp);
            FloatVector w1 = FloatVector.fromArray(S, w, wp + L);
            FloatVector w2 = FloatVector.fromArray(S, w, wp + 2 * L);
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

    /** One row, columns [c0, c1), inputs [kc, kEnd): whole vectors, then a scalar tail. */
    private static void row1(
            float[] x, int k, float[] w, int n, float[] bias, float[] y, int r, int c0, int c1, int kc, int kEnd) {
        int c = c0;
        int xr = r * k;
        for (; c + L <= c1; c += L) {
            FloatVector acc = start(bias, y, r * n + c, c, kc);
            for (int p = kc; p < kEnd; p++) {
                acc = FloatVector.fromArray(S, w, p * n + c).fma(FloatVector.broadcast(S, x[xr + p]), acc);
            }
            acc.intoArray(y, r * n + c);
        }
        for (; c < c1; c++) {
            float acc = kc > 0 ? y[r * n + c] : bias == null ? 0f : bias[c];
            for (int p = kc; p < kEnd; p++) {
                acc = Math.fma(x[xr + p], w[p * n + c], acc);
            }
            y[r * n + c] = acc;
        }
    }
}

package dev.attune.kernels.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * GEMM kernel on the JDK Vector API: a register tile of 4 rows by 2 vectors of columns, the
 * accumulators held in registers across the whole K loop (one broadcast of X and one fused
 * multiply-add per weight vector), so each weight row is read once per four output rows.
 *
 * <p>Only loaded when the {@code jdk.incubator.vector} module is in the boot layer; see
 * {@link CpuGemm}.
 */
final class VectorGemmKernel implements GemmKernel {

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int L = S.length();

    @Override
    public void rows(float[] x, int k, float[] w, int n, float[] bias, float[] y, int r0, int r1) {
        int r = r0;
        for (; r + 4 <= r1; r += 4) {
            int c = 0;
            for (; c + 2 * L <= n; c += 2 * L) {
                tile4x2(x, k, w, n, bias, y, r, c);
            }
            for (; c < n; c++) {
                scalarColumn(x, k, w, n, bias, y, r, r + 4, c);
            }
        }
        for (; r < r1; r++) {
            int c = 0;
            for (; c + L <= n; c += L) {
                FloatVector acc = bias == null ? FloatVector.zero(S) : FloatVector.fromArray(S, bias, c);
                int xr = r * k;
                for (int p = 0; p < k; p++) {
                    acc = FloatVector.fromArray(S, w, p * n + c).fma(FloatVector.broadcast(S, x[xr + p]), acc);
                }
                acc.intoArray(y, r * n + c);
            }
            for (; c < n; c++) {
                scalarColumn(x, k, w, n, bias, y, r, r + 1, c);
            }
        }
    }

    private static void tile4x2(float[] x, int k, float[] w, int n, float[] bias, float[] y, int r, int c) {
        FloatVector b0 = bias == null ? FloatVector.zero(S) : FloatVector.fromArray(S, bias, c);
        FloatVector b1 = bias == null ? FloatVector.zero(S) : FloatVector.fromArray(S, bias, c + L);
        FloatVector a00 = b0, a01 = b1, a10 = b0, a11 = b1, a20 = b0, a21 = b1, a30 = b0, a31 = b1;
        int x0 = r * k, x1 = x0 + k, x2 = x1 + k, x3 = x2 + k;
        for (int p = 0; p < k; p++) {
            int wp = p * n + c;
            FloatVector w0 = FloatVector.fromArray(S, w, wp);
            FloatVector w1 = FloatVector.fromArray(S, w, wp + L);
            FloatVector v0 = FloatVector.broadcast(S, x[x0 + p]);
            FloatVector v1 = FloatVector.broadcast(S, x[x1 + p]);
            FloatVector v2 = FloatVector.broadcast(S, x[x2 + p]);
            FloatVector v3 = FloatVector.broadcast(S, x[x3 + p]);
            a00 = w0.fma(v0, a00);
            a01 = w1.fma(v0, a01);
            a10 = w0.fma(v1, a10);
            a11 = w1.fma(v1, a11);
            a20 = w0.fma(v2, a20);
            a21 = w1.fma(v2, a21);
            a30 = w0.fma(v3, a30);
            a31 = w1.fma(v3, a31);
        }
        a00.intoArray(y, r * n + c);
        a01.intoArray(y, r * n + c + L);
        a10.intoArray(y, (r + 1) * n + c);
        a11.intoArray(y, (r + 1) * n + c + L);
        a20.intoArray(y, (r + 2) * n + c);
        a21.intoArray(y, (r + 2) * n + c + L);
        a30.intoArray(y, (r + 3) * n + c);
        a31.intoArray(y, (r + 3) * n + c + L);
    }

    private static void scalarColumn(float[] x, int k, float[] w, int n, float[] bias, float[] y,
                                     int ra, int rb, int c) {
        for (int r = ra; r < rb; r++) {
            float acc = bias == null ? 0f : bias[c];
            for (int p = 0; p < k; p++) {
                acc = Math.fma(x[r * k + p], w[p * n + c], acc);
            }
            y[r * n + c] = acc;
        }
    }
}

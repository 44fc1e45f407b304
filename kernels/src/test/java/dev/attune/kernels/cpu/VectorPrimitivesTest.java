package dev.attune.kernels.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Both {@link VectorPrimitives} implementations (portable and Vector API): dot, axpy, scale and
 * expShiftSum against double references for every length 0..70 at several offsets, touching
 * nothing outside their range; GELU within 1e-6 · max(1, |x|) of the exact-erf formula (erf from
 * an independent high-precision {@link ErfReference}) over [-10, 10] and at extremes, NaN in gives
 * NaN out; the shared erf approximation within its documented error; the known erf values; SiLU·up
 * within 4 ulp (1e-30 near 0) of the double formula over [-100, 100] and at the extremes, the same bits for
 * every split of a row into ranges.
 */
class VectorPrimitivesTest {

    static List<VectorPrimitives> implementations() {
        return List.of(new ScalarVectorPrimitives(), new SimdVectorPrimitives());
    }

    private static final int[] OFFSETS_A = {0, 1, 3, 16};
    private static final int[] OFFSETS_B = {0, 2, 5};
    private static final float GUARD = -12345.5f;

    private static float[] random(Random rnd, int size) {
        float[] a = new float[size];
        for (int i = 0; i < size; i++) {
            a[i] = (float) (rnd.nextDouble() * 4 - 2);
        }
        return a;
    }

    private static float[] guarded(float[] values, int offset, int len, int tail) {
        float[] a = new float[offset + len + tail];
        Arrays.fill(a, GUARD);
        System.arraycopy(values, 0, a, offset, len);
        return a;
    }

    private static void assertGuards(float[] a, int offset, int len, String where) {
        for (int i = 0; i < a.length; i++) {
            if ((i < offset || i >= offset + len) && a[i] != GUARD) {
                fail(where + ": wrote outside its range at index " + i);
            }
        }
    }

    @ParameterizedTest
    @MethodSource("implementations")
    void dotMatchesDoubleReference(VectorPrimitives p) {
        Random rnd = new Random(1);
        for (int len = 0; len <= 70; len++) {
            for (int ao : OFFSETS_A) {
                for (int bo : OFFSETS_B) {
                    float[] av = random(rnd, len);
                    float[] bv = random(rnd, len);
                    float[] a = guarded(av, ao, len, 7);
                    float[] b = guarded(bv, bo, len, 3);
                    double exact = 0;
                    double abs = 0;
                    for (int i = 0; i < len; i++) {
                        exact += (double) av[i] * bv[i];
                        abs += Math.abs((double) av[i] * bv[i]);
                    }
                    float got = p.dot(a, ao, b, bo, len);
                    double tol = (len + 1) * 0x1p-24 * abs;
                    String where = p.getClass().getSimpleName() + " len=" + len + " ao=" + ao + " bo=" + bo;
                    assertEquals(exact, got, tol, where);
                    if (len == 0) {
                        assertEquals(0f, got, 0f, where);
                    }
                }
            }
        }
    }

    @ParameterizedTest
    @MethodSource("implementations")
    void axpyMatchesDoubleReference(VectorPrimitives p) {
        Random rnd = new Random(2);
        for (int len = 0; len <= 70; len++) {
            for (int xo : OFFSETS_A) {
                for (int yo : OFFSETS_B) {
                    float alpha = (float) rnd.nextGaussian();
                    float[] xv = random(rnd, len);
                    float[] yv = random(rnd, len);
                    float[] x = guarded(xv, xo, len, 5);
                    float[] y = guarded(yv, yo, len, 5);
                    float[] xBefore = x.clone();
                    p.axpy(alpha, x, xo, y, yo, len);
                    String where = p.getClass().getSimpleName() + " len=" + len + " xo=" + xo + " yo=" + yo;
                    for (int i = 0; i < len; i++) {
                        double exact = yv[i] + (double) alpha * xv[i];
                        // One rounding (fma) or two (multiply, then add).
                        double tol = 0x1p-23 * (Math.abs(yv[i]) + Math.abs((double) alpha * xv[i]));
                        assertEquals(exact, y[yo + i], tol, where + " i=" + i);
                    }
                    assertGuards(y, yo, len, where);
                    assertTrue(Arrays.equals(xBefore, x), where + ": x modified");
                }
            }
        }
    }

    /** Shapes that reach every tile and tail of the blocked products: rows, columns and depth around the vector widths. */
    private static final int[][] BLOCK_SHAPES = {
        {1, 1, 1},
        {4, 64, 32},
        {5, 50, 32},
        {32, 64, 64},
        {3, 17, 8},
        {7, 33, 80},
        {9, 70, 128},
        {2, 0, 16},
        {0, 5, 4},
        {6, 48, 40},
        {13, 65, 17}
    };

    @ParameterizedTest
    @MethodSource("implementations")
    void scoreBlockIsTheChainOfFmasOneQueryAtATimeWouldGive(VectorPrimitives p) {
        Random rnd = new Random(21);
        for (int[] shape : BLOCK_SHAPES) {
            int rows = shape[0], cols = shape[1], d = shape[2];
            int qs = d + 3, ks = cols + 5, ss = cols + 2, qo = 2, ko = 1, so = 3;
            float scale = 0.125f + rnd.nextFloat();
            float[] q = random(rnd, qo + rows * qs + 1);
            float[] kt = random(rnd, ko + d * ks + 1);
            float[] s = new float[so + Math.max(1, rows) * ss + 4];
            Arrays.fill(s, GUARD);
            p.scoreBlock(q, qo, qs, scale, kt, ko, ks, d, s, so, ss, rows, cols);
            String where = p.getClass().getSimpleName() + " " + Arrays.toString(shape);
            for (int i = 0; i < rows; i++) {
                for (int j = 0; j < cols; j++) {
                    // The axpy formulation, element by element: s = fma(q·scale, k, s) over c from 0.
                    float chain = 0f;
                    double exact = 0;
                    for (int c = 0; c < d; c++) {
                        chain = Math.fma(q[qo + i * qs + c] * scale, kt[ko + c * ks + j], chain);
                        exact += (double) (q[qo + i * qs + c] * scale) * kt[ko + c * ks + j];
                    }
                    float got = s[so + i * ss + j];
                    assertEquals(chain, got, 0f, where + " i=" + i + " j=" + j);
                    assertEquals(exact, got, 1e-5 * Math.max(1, d), where + " against double");
                }
                for (int j = cols; j < ss; j++) {
                    assertEquals(GUARD, s[so + i * ss + j], 0f, where + ": wrote past the block at j=" + j);
                }
            }
            for (int x = 0; x < so; x++) {
                assertEquals(GUARD, s[x], 0f, where + ": wrote before the block");
            }
        }
    }

    @ParameterizedTest
    @MethodSource("implementations")
    void accumulateBlockAddsEachTermInKeyOrder(VectorPrimitives p) {
        Random rnd = new Random(22);
        for (int[] shape : BLOCK_SHAPES) {
            int rows = shape[0], cols = shape[1], d = shape[2];
            int ps = cols + 3, vs = d + 2, as = d + 5, po = 1, vo = 4, ao = 2;
            float[] pr = random(rnd, po + Math.max(1, rows) * ps + 1);
            float[] v = random(rnd, vo + cols * vs + 1);
            float[] acc = new float[ao + Math.max(1, rows) * as + 3];
            Arrays.fill(acc, GUARD);
            float[] start = random(rnd, rows * d);
            for (int i = 0; i < rows; i++) {
                System.arraycopy(start, i * d, acc, ao + i * as, d);
            }
            p.accumulateBlock(pr, po, ps, v, vo, vs, acc, ao, as, rows, cols, d);
            String where = p.getClass().getSimpleName() + " " + Arrays.toString(shape);
            for (int i = 0; i < rows; i++) {
                for (int c = 0; c < d; c++) {
                    // One axpy per key, in key order: a = fma(p_j, v_j, a).
                    float chain = start[i * d + c];
                    for (int j = 0; j < cols; j++) {
                        chain = Math.fma(pr[po + i * ps + j], v[vo + j * vs + c], chain);
                    }
                    assertEquals(chain, acc[ao + i * as + c], 0f, where + " i=" + i + " c=" + c);
                }
                for (int c = d; c < as && ao + i * as + c < acc.length; c++) {
                    assertEquals(GUARD, acc[ao + i * as + c], 0f, where + ": wrote past the row at c=" + c);
                }
            }
        }
    }

    @ParameterizedTest
    @MethodSource("implementations")
    void scaleIsAnExactFloatMultiply(VectorPrimitives p) {
        Random rnd = new Random(3);
        for (int len = 0; len <= 70; len++) {
            for (int yo : OFFSETS_A) {
                float alpha = (float) rnd.nextGaussian();
                float[] yv = random(rnd, len);
                float[] y = guarded(yv, yo, len, 9);
                p.scale(alpha, y, yo, len);
                String where = p.getClass().getSimpleName() + " len=" + len + " yo=" + yo;
                for (int i = 0; i < len; i++) {
                    assertEquals(yv[i] * alpha, y[yo + i], 0f, where + " i=" + i);
                }
                assertGuards(y, yo, len, where);
            }
        }
    }

    @ParameterizedTest
    @MethodSource("implementations")
    void expShiftSumMatchesDoubleReference(VectorPrimitives p) {
        Random rnd = new Random(4);
        for (int len = 0; len <= 70; len++) {
            for (int yo : OFFSETS_A) {
                float[] yv = new float[len];
                for (int i = 0; i < len; i++) {
                    yv[i] = (float) (rnd.nextGaussian() * 8);
                }
                float shift = len == 0 ? 0f : yv[rnd.nextInt(len)] + (float) rnd.nextGaussian();
                float[] y = guarded(yv, yo, len, 11);
                float sum = p.expShiftSum(y, yo, len, shift);
                String where = p.getClass().getSimpleName() + " len=" + len + " yo=" + yo;
                double exactSum = 0;
                for (int i = 0; i < len; i++) {
                    double e = Math.exp((double) (yv[i] - shift)); // the shift is subtracted in fp32
                    exactSum += e;
                    assertEquals(e, y[yo + i], 4e-7 * e + Float.MIN_NORMAL, where + " i=" + i);
                }
                assertEquals(exactSum, sum, (len + 4) * 0x1p-23 * exactSum + Float.MIN_NORMAL, where + " sum");
                assertGuards(y, yo, len, where);
            }
        }
    }

    @ParameterizedTest
    @MethodSource("implementations")
    void expShiftSumUnderflowsToZeroNotNaN(VectorPrimitives p) {
        float[] y = new float[37];
        Arrays.fill(y, -200f);
        y[5] = 0f;
        float sum = p.expShiftSum(y, 0, y.length, 0f);
        assertEquals(1f, sum, 0f);
        for (int i = 0; i < y.length; i++) {
            assertEquals(i == 5 ? 1f : 0f, y[i], 0f, "i=" + i);
        }
    }

    @Test
    void erfReferenceMatchesKnownValues() {
        // Guards the test's own reference before it judges the kernels.
        assertEquals(0.5204998778130465, ErfReference.erf(0.5), 1e-15);
        assertEquals(0.8427007929497149, ErfReference.erf(1), 1e-15);
        assertEquals(0.9953222650189527, ErfReference.erf(2), 1e-15);
        assertEquals(-0.9661051464753108, ErfReference.erf(-1.5), 1e-15);
        assertEquals(2.209049699858544e-05, ErfReference.erfc(3), 1e-19);
        assertEquals(1.541725790028002e-08, ErfReference.erfc(4), 1e-22);
        assertEquals(1.5374597944280349e-12, ErfReference.erfc(5), 1e-26);
        assertEquals(0.0, ErfReference.erf(0), 0);
        // Both sides of the switch between series and continued fraction agree.
        // (below 3, erfc is 1 - erf: accurate to about 1e-16 absolute, not relative)
        assertEquals(ErfReference.erfc(Math.nextDown(3.0)), ErfReference.erfc(3.0), 2e-16);
    }

    @Test
    void sharedErfIsWithinItsDocumentedError() {
        assertEquals(0.5204998778130465, VectorPrimitives.erf(0.5), 1.2e-7);
        assertEquals(0.8427007929497149, VectorPrimitives.erf(1), 1.2e-7);
        assertEquals(0.9953222650189527, VectorPrimitives.erf(2), 1.2e-7);
        assertEquals(-0.9661051464753108, VectorPrimitives.erf(-1.5), 1.2e-7);
        assertEquals(VectorPrimitives.erf(0.7), CpuOps.erf(0.7), 0.0);
        for (double x = -8; x <= 8; x += 0.001) {
            double exact = ErfReference.erf(x);
            // Numerical Recipes' erfcc: fractional error in erfc(|x|) below 1.2e-7.
            // plus the double rounding of 1 - erfc.
            double tol = 1.2e-7 * ErfReference.erfc(Math.abs(x)) + 4e-16;
            assertEquals(exact, VectorPrimitives.erf(x), tol, "x=" + x);
        }
        assertTrue(Double.isNaN(VectorPrimitives.erf(Double.NaN)));
        assertEquals(1.0, VectorPrimitives.erf(Double.POSITIVE_INFINITY), 0.0);
        assertEquals(-1.0, VectorPrimitives.erf(Double.NEGATIVE_INFINITY), 0.0);
    }

    @ParameterizedTest
    @MethodSource("implementations")
    void geluMatchesExactErfFormula(VectorPrimitives p) {
        int count = 2001;
        int from = 3; // an offset that is not a multiple of any vector width
        float[] x = new float[from + count + 5];
        Arrays.fill(x, GUARD);
        float[] in = new float[count];
        for (int i = 0; i < count; i++) {
            in[i] = (float) ((i - 1000) * 0.01);
            x[from + i] = in[i];
        }
        p.geluErf(x, from, from + count);
        assertGuards(x, from, count, p.getClass().getSimpleName());
        for (int i = 0; i < count; i++) {
            double exact = ErfReference.gelu(in[i]);
            double err = Math.abs(x[from + i] - exact) / Math.max(1, Math.abs(in[i]));
            assertTrue(
                    err <= 1e-6,
                    p.getClass().getSimpleName() + ": gelu(" + in[i] + ") = " + x[from + i] + ", exact " + exact);
        }
        // Every length 0..40 at every start 0..3 gives the same values as the long run, element by element
        // (the vector and tail paths agree to the documented accuracy).
        for (int len = 0; len <= 40; len++) {
            for (int start = 0; start < 4; start++) {
                float[] y = new float[start + len + 2];
                Arrays.fill(y, GUARD);
                for (int i = 0; i < len; i++) {
                    y[start + i] = in[(i * 37 + len) % count];
                }
                p.geluErf(y, start, start + len);
                assertGuards(y, start, len, p.getClass().getSimpleName() + " len=" + len);
                for (int i = 0; i < len; i++) {
                    float xi = in[(i * 37 + len) % count];
                    assertEquals(ErfReference.gelu(xi), y[start + i], 1e-6 * Math.max(1, Math.abs(xi)), "x=" + xi);
                }
            }
        }
    }

    @Test
    void simdGeluStaysCloseToTheDoubleEvaluationOfTheSameApproximation() {
        // The fp32 lanes evaluate the same erfcc polynomial as the portable path does in double;
        // its Javadoc promises about 2e-7. Tighter than the check against the exact erf, so that a
        // wrong coefficient cannot hide inside the approximation's own error.
        Random rnd = new Random(6);
        int n = 40_000;
        float[] in = new float[n];
        for (int i = 0; i < n; i++) {
            in[i] = i < 4001 ? (float) ((i - 2000) * 0.005) : (float) (rnd.nextGaussian() * 5);
        }
        float[] x = in.clone();
        new SimdVectorPrimitives().geluErf(x, 0, n);
        for (int i = 0; i < n; i++) {
            double v = in[i];
            double portable = 0.5 * v * (1.0 + VectorPrimitives.erf(v * 0.7071067811865476));
            assertEquals(portable, x[i], 2e-7 * Math.max(1, Math.abs(v)), "x=" + v);
        }
    }

    @ParameterizedTest
    @MethodSource("implementations")
    void geluExtremes(VectorPrimitives p) {
        float[] special = {
            1e-30f,
            -1e-30f,
            0f,
            -0f,
            30f,
            -30f,
            1e4f,
            -1e4f,
            Float.MAX_VALUE,
            -Float.MAX_VALUE,
            Float.MIN_VALUE,
            -Float.MIN_VALUE,
            5.5f,
            -5.5f,
            Float.POSITIVE_INFINITY
        };
        // Each value at every lane position of a vector-sized run, and alone (scalar tail).
        for (float v : special) {
            for (int len : new int[] {1, 16, 37}) {
                float[] x = new float[len];
                Arrays.fill(x, v);
                p.geluErf(x, 0, len);
                double exact = ErfReference.gelu(v);
                for (int i = 0; i < len; i++) {
                    String where = p.getClass().getSimpleName() + " gelu(" + v + ") = " + x[i] + " len=" + len;
                    assertTrue(!Float.isNaN(x[i]), where);
                    if (Double.isInfinite(exact)) {
                        assertEquals(exact, x[i], 0.0, where);
                    } else {
                        assertEquals(exact, x[i], 1e-6 * Math.max(1, Math.abs((double) v)), where);
                    }
                }
            }
        }
        assertEquals(0f, gelu(p, 0f), 0f);
        assertEquals(30f, gelu(p, 30f), 0f);
        assertEquals(1e-30f / 2, gelu(p, 1e-30f), 1e-37f);
    }

    @ParameterizedTest
    @MethodSource("implementations")
    void geluOfNanIsNan(VectorPrimitives p) {
        for (int len : new int[] {1, 16, 33}) {
            float[] x = new float[len];
            Arrays.fill(x, 1f);
            x[len / 2] = Float.NaN;
            p.geluErf(x, 0, len);
            for (int i = 0; i < len; i++) {
                if (i == len / 2) {
                    assertTrue(Float.isNaN(x[i]), p.getClass().getSimpleName() + " len=" + len);
                } else {
                    assertEquals(ErfReference.gelu(1), x[i], 1e-6, "NaN leaked into lane " + i);
                }
            }
        }
    }

    @ParameterizedTest
    @MethodSource("implementations")
    void siluMulMatchesDoubleReference(VectorPrimitives p) {
        Random rnd = new Random(7);
        for (int len = 0; len <= 70; len++) {
            for (int go : OFFSETS_A) {
                for (int oo : OFFSETS_B) {
                    float[] gv = new float[len];
                    float[] uv = random(rnd, len);
                    for (int i = 0; i < len; i++) {
                        // wide enough to reach exp's clamps on both sides
                        gv[i] = (float) (rnd.nextDouble() * 200 - 100);
                    }
                    float[] gate = guarded(gv, go, len, 4);
                    float[] up = guarded(uv, oo, len, 6);
                    float[] out = guarded(new float[len], oo, len, 3);
                    p.siluMul(gate, go, up, oo, out, oo, len);
                    String where = p.getClass().getSimpleName() + " len=" + len + " go=" + go + " oo=" + oo;
                    assertGuards(out, oo, len, where);
                    for (int i = 0; i < len; i++) {
                        double z = gv[i];
                        double exact = z / (1 + Math.exp(-z)) * uv[i];
                        assertEquals(
                                exact, out[oo + i], 4 * Math.ulp((float) Math.abs(exact)) + 1e-30, where + " i=" + i);
                    }
                }
            }
        }
    }

    @ParameterizedTest
    @MethodSource("implementations")
    void siluMulGivesTheSameBitsForEverySplit(VectorPrimitives p) {
        Random rnd = new Random(8);
        int n = 203;
        float[] gate = random(rnd, n);
        float[] up = random(rnd, n);
        for (int i = 0; i < n; i += 9) {
            gate[i] *= 40; // some where exp's argument is large
        }
        float[] whole = new float[n];
        p.siluMul(gate, 0, up, 0, whole, 0, n);
        for (int cut = 0; cut <= n; cut += 7) {
            float[] parts = new float[n];
            p.siluMul(gate, 0, up, 0, parts, 0, cut);
            p.siluMul(gate, cut, up, cut, parts, cut, n - cut);
            for (int i = 0; i < n; i++) {
                assertEquals(
                        Float.floatToRawIntBits(whole[i]), Float.floatToRawIntBits(parts[i]), "cut " + cut + " i=" + i);
            }
        }
    }

    @ParameterizedTest
    @MethodSource("implementations")
    void siluMulExtremes(VectorPrimitives p) {
        float[] gate = {Float.NaN, -1000f, 1000f, -Float.MAX_VALUE, Float.MAX_VALUE, 0f, -0f, 1e-30f};
        float[] up = {1f, 2f, 3f, 1f, 1f, 5f, 5f, 1f};
        float[] out = new float[gate.length];
        p.siluMul(gate, 0, up, 0, out, 0, gate.length);
        assertTrue(Float.isNaN(out[0]), "silu(NaN)");
        assertEquals(0f, out[1], 1e-30f, "silu(-1000) is 0 to within a denormal");
        assertEquals(3000f, out[2], 0f, "silu(1000) = 1000");
        assertEquals(0f, out[3], 1e-30f, "silu(-MAX)");
        assertEquals(Float.MAX_VALUE, out[4], 0f, "silu(MAX)");
        assertEquals(0f, out[5], 0f);
        assertEquals(0f, out[6], 0f);
        assertEquals(5e-31f, out[7], 1e-36f);
    }

    @Test
    void getPicksTheVectorApiWhenItsModuleIsPresent() {
        boolean vector = !Boolean.getBoolean("attune.cpu.scalar")
                && ModuleLayer.boot().findModule("jdk.incubator.vector").isPresent();
        if (vector) {
            assertInstanceOf(SimdVectorPrimitives.class, VectorPrimitives.get());
        } else {
            assertInstanceOf(ScalarVectorPrimitives.class, VectorPrimitives.get());
        }
    }

    private static float gelu(VectorPrimitives p, float v) {
        float[] x = {v};
        p.geluErf(x, 0, 1);
        return x[0];
    }
}

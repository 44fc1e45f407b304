package dev.attune.kernels.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.util.Random;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;
import org.junit.jupiter.api.Test;

/**
 * The Vector API exp of {@link SimdVectorPrimitives}: within 2 ulp of the exact value over its
 * range, 0 below it, NaN for NaN, and each lane the same bits as the scalar mirror (a fixed
 * sequence of IEEE operations, so compiled and interpreted runs agree); sums of lanes in lane
 * order, so a dot product equals its scalar evaluation in that order.
 */
class VectorExpTest {

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int L = S.length();

    @Test
    void expIsAccurateAndEqualsItsScalarMirrorBitForBit() {
        Random rnd = new Random(3);
        float[] x = new float[L * 4096];
        for (int i = 0; i < x.length; i++) {
            x[i] = switch (i % 4) {
                case 0 -> (float) (rnd.nextDouble() * 176 - 88); // the whole range
                case 1 -> (float) (rnd.nextDouble() * 20 - 10); // where softmax lives
                case 2 -> (float) (rnd.nextDouble() * 1e-3 - 5e-4); // near 0
                default -> -(float) (rnd.nextDouble() * 87);
            };
        }
        x[0] = 0f;
        x[1] = -0f;
        x[2] = Float.NEGATIVE_INFINITY;
        x[3] = Float.NaN;
        x[4] = -87.3f;
        x[5] = -100f;
        x[6] = 88.3f;
        x[7] = 1f;
        float[] y = new float[x.length];
        for (int i = 0; i < x.length; i += L) {
            SimdVectorPrimitives.exp(FloatVector.fromArray(S, x, i)).intoArray(y, i);
        }
        double worstUlps = 0;
        for (int i = 0; i < x.length; i++) {
            float scalar = SimdVectorPrimitives.expScalar(x[i]);
            if (Float.floatToRawIntBits(scalar) != Float.floatToRawIntBits(y[i])
                    && !(Float.isNaN(scalar) && Float.isNaN(y[i]))) {
                fail("lane " + i + ": exp(" + x[i] + ") vector " + y[i] + " vs scalar mirror " + scalar);
            }
            if (Float.isNaN(x[i])) {
                assertTrue(Float.isNaN(y[i]), "exp(NaN)");
            } else if (x[i] < -87.33654f) {
                assertEquals(0f, y[i], "exp(" + x[i] + ") underflows to 0");
            } else {
                double exact = Math.exp(x[i]);
                double ulps = Math.abs(y[i] - exact) / Math.ulp((float) exact);
                worstUlps = Math.max(worstUlps, ulps);
            }
        }
        assertEquals(1f, y[0]);
        assertEquals(1f, y[1]);
        assertEquals(0f, y[2]);
        assertTrue(worstUlps <= 2, "worst error " + worstUlps + " ulp");
    }

    @Test
    void dotSumsLanesByTheFixedTree() {
        Random rnd = new Random(8);
        SimdVectorPrimitives simd = new SimdVectorPrimitives();
        for (int len : new int[] {L, 3 * L + 5, 64, 1000}) {
            float[] a = new float[len];
            float[] b = new float[len];
            for (int i = 0; i < len; i++) {
                a[i] = (float) rnd.nextGaussian();
                b[i] = (float) rnd.nextGaussian();
            }
            // The same order in scalar code: lane j accumulates elements j, j + L, ...; the lanes are
            // then summed pairwise, lane i with lane i ^ L/2, then i ^ L/4, ... (in lane order past 16
            // lanes); then the tail.
            float[] lanes = new float[L];
            int whole = len / L * L;
            for (int i = 0; i < whole; i++) {
                lanes[i % L] = Math.fma(a[i], b[i], lanes[i % L]);
            }
            float s = 0f;
            if (L > 16) {
                for (float v : lanes) {
                    s += v;
                }
            } else {
                for (int h = L / 2; h >= 1; h /= 2) {
                    float[] next = new float[L];
                    for (int i = 0; i < L; i++) {
                        next[i] = lanes[i] + lanes[i ^ h];
                    }
                    lanes = next;
                }
                s = lanes[0];
            }
            for (int i = whole; i < len; i++) {
                s = Math.fma(a[i], b[i], s);
            }
            assertEquals(s, simd.dot(a, 0, b, 0, len), 0f, "len " + len);
        }
    }
}

package dev.attune.kernels.emulation;

import static org.junit.jupiter.api.Assertions.fail;

import dev.attune.kernels.precision.StoredPrecision;
import dev.attune.kernels.select.ComputeDtype;
import java.util.SplittableRandom;

/** Tolerances and comparisons of emulated kernel outputs against the CPU references. */
final class Close {

    private Close() {}

    /** Uniform values in [-range, range), already rounded to the dtype. */
    static float[] random(ComputeDtype dtype, int n, float range, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = StoredPrecision.round((float) ((r.nextDouble() * 2 - 1) * range), dtype);
        }
        return v;
    }

    /**
     * Fails unless |actual - expected| ≤ atol + rtol·|expected| everywhere (NaN never passes),
     * naming the first bad element and the worst error.
     */
    static void assertClose(String what, float[] expected, float[] actual, double atol, double rtol) {
        if (expected.length != actual.length) {
            fail(what + ": " + actual.length + " elements, expected " + expected.length);
        }
        int bad = -1;
        double worst = 0;
        for (int i = 0; i < expected.length; i++) {
            double err = Math.abs((double) actual[i] - expected[i]);
            if (!(err <= atol + rtol * Math.abs(expected[i]))) {
                if (bad < 0) {
                    bad = i;
                }
                worst = Double.isNaN(err) ? Double.NaN : Math.max(worst, err);
            }
        }
        if (bad >= 0) {
            fail(what + ": element " + bad + " is " + actual[bad] + ", expected " + expected[bad] + " (atol " + atol
                    + ", rtol " + rtol + "; worst error " + worst + ")");
        }
    }
}

package dev.attune.kernels.cpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * Row operations: {@code addLayerNorm} with and without a residual against a double reference
 * (random gamma and beta, rows of very different scales so that eps matters, rows split across
 * threads, the residual left alone); a constant row (variance 0) gives exactly beta, never NaN;
 * {@code geluErf} over rows split across threads against the exact-erf formula.
 */
class CpuOpsTest {

    private static double[] referenceLayerNorm(
            float[] x, float[] residual, int rows, int width, float[] gamma, float[] beta, double eps) {
        double[] y = new double[rows * width];
        for (int r = 0; r < rows; r++) {
            double[] v = new double[width];
            double mean = 0;
            for (int i = 0; i < width; i++) {
                v[i] = x[r * width + i] + (residual == null ? 0.0 : residual[r * width + i]);
                mean += v[i];
            }
            mean /= width;
            double var = 0;
            for (int i = 0; i < width; i++) {
                var += (v[i] - mean) * (v[i] - mean);
            }
            var /= width;
            for (int i = 0; i < width; i++) {
                y[r * width + i] = (v[i] - mean) / Math.sqrt(var + eps) * gamma[i] + beta[i];
            }
        }
        return y;
    }

    private static void checkLayerNorm(boolean withResidual, int rows, int width, float eps, int threads, long seed) {
        Random rnd = new Random(seed);
        float[] x = new float[rows * width];
        float[] residual = withResidual ? new float[rows * width] : null;
        for (int r = 0; r < rows; r++) {
            // Row scales from 1e-4 (variance far below eps) to 100, and a row offset.
            double scale = Math.pow(10, -4 + 6 * rnd.nextDouble());
            double offset = rnd.nextGaussian() * 3 * scale;
            for (int i = 0; i < width; i++) {
                x[r * width + i] = (float) (offset + rnd.nextGaussian() * scale);
                if (residual != null) {
                    residual[r * width + i] = (float) (rnd.nextGaussian() * scale);
                }
            }
        }
        float[] gamma = new float[width];
        float[] beta = new float[width];
        for (int i = 0; i < width; i++) {
            gamma[i] = (float) (0.5 + rnd.nextDouble());
            beta[i] = (float) rnd.nextGaussian();
        }
        float[] residualBefore = residual == null ? null : residual.clone();
        double[] expected = referenceLayerNorm(x, residual, rows, width, gamma, beta, eps);
        try (CpuThreads pool = new CpuThreads(threads)) {
            CpuOps.addLayerNorm(x, residual, rows, width, gamma, beta, eps, pool);
        }
        for (int i = 0; i < rows * width; i++) {
            if (!(Math.abs(x[i] - expected[i]) <= 1e-5 * Math.max(1, Math.abs(expected[i])))) {
                fail("residual=" + withResidual + " rows=" + rows + " width=" + width + " eps=" + eps + " threads="
                        + threads + " at (" + i / width + ", " + i % width + "): " + x[i] + " vs " + expected[i]);
            }
        }
        if (residual != null) {
            assertArrayEquals(residualBefore, residual, "the residual is read only");
        }
    }

    @Test
    void addLayerNormWithoutResidualMatchesReference() {
        checkLayerNorm(false, 50, 384, 1e-12f, 3, 1);
        checkLayerNorm(false, 50, 384, 1e-5f, 3, 2);
        checkLayerNorm(false, 7, 33, 1e-6f, 1, 3);
    }

    @Test
    void addLayerNormWithResidualMatchesReference() {
        checkLayerNorm(true, 50, 384, 1e-12f, 3, 4);
        checkLayerNorm(true, 50, 768, 1e-5f, 2, 5);
        checkLayerNorm(true, 33, 1, 1e-5f, 3, 6);
        checkLayerNorm(true, 64, 17, 1e-6f, 4, 7);
    }

    @Test
    void threadCountDoesNotChangeTheResult() {
        Random rnd = new Random(8);
        int rows = 70;
        int width = 96;
        float[] x = new float[rows * width];
        float[] res = new float[rows * width];
        float[] gamma = new float[width];
        float[] beta = new float[width];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) rnd.nextGaussian();
            res[i] = (float) rnd.nextGaussian();
        }
        for (int i = 0; i < width; i++) {
            gamma[i] = (float) rnd.nextGaussian();
            beta[i] = (float) rnd.nextGaussian();
        }
        float[] a = x.clone();
        float[] b = x.clone();
        try (CpuThreads one = CpuThreads.single();
                CpuThreads three = new CpuThreads(3)) {
            CpuOps.addLayerNorm(a, res, rows, width, gamma, beta, 1e-12f, one);
            CpuOps.addLayerNorm(b, res, rows, width, gamma, beta, 1e-12f, three);
        }
        assertArrayEquals(a, b);
    }

    @Test
    void constantRowGivesBetaNotNaN() {
        int rows = 40;
        int width = 768;
        Random rnd = new Random(9);
        float[] x = new float[rows * width];
        float[] residual = new float[rows * width];
        for (int r = 0; r < rows; r++) {
            float c = r % 5 == 0 ? 0f : (float) (rnd.nextGaussian() * 1e3);
            float d = (float) rnd.nextGaussian();
            Arrays.fill(x, r * width, (r + 1) * width, c);
            Arrays.fill(residual, r * width, (r + 1) * width, d);
        }
        float[] gamma = new float[width];
        float[] beta = new float[width];
        for (int i = 0; i < width; i++) {
            gamma[i] = (float) rnd.nextGaussian();
            beta[i] = (float) rnd.nextGaussian();
        }
        float[] noResidual = x.clone();
        try (CpuThreads pool = new CpuThreads(3)) {
            CpuOps.addLayerNorm(x, residual, rows, width, gamma, beta, 1e-12f, pool);
            CpuOps.addLayerNorm(noResidual, null, rows, width, gamma, beta, 1e-5f, pool);
        }
        for (int r = 0; r < rows; r++) {
            for (int i = 0; i < width; i++) {
                assertEquals(beta[i], x[r * width + i], 0f, "row " + r + " col " + i + " with residual");
                assertEquals(beta[i], noResidual[r * width + i], 0f, "row " + r + " col " + i);
            }
        }
    }

    @Test
    void geluErfOverRowsMatchesExactFormula() {
        int rows = 37;
        int width = 45; // rows * width not a multiple of any vector width; several chunks per thread
        Random rnd = new Random(10);
        float[] x = new float[rows * width + 3];
        float[] in = new float[rows * width];
        for (int i = 0; i < in.length; i++) {
            in[i] = (float) (rnd.nextGaussian() * 4);
            x[i] = in[i];
        }
        x[rows * width] = 111f;
        x[rows * width + 1] = -222f;
        x[rows * width + 2] = 333f;
        try (CpuThreads pool = new CpuThreads(3)) {
            CpuOps.geluErf(x, rows, width, pool);
        }
        for (int i = 0; i < in.length; i++) {
            double exact = ErfReference.gelu(in[i]);
            assertEquals(exact, x[i], 1e-6 * Math.max(1, Math.abs(in[i])), "x=" + in[i]);
        }
        assertEquals(111f, x[rows * width]);
        assertEquals(-222f, x[rows * width + 1]);
        assertEquals(333f, x[rows * width + 2]);
    }

    @Test
    void erfMatchesKnownValues() {
        assertEquals(0.5204998778130465, CpuOps.erf(0.5), 1.2e-7);
        assertEquals(0.8427007929497149, CpuOps.erf(1), 1.2e-7);
        assertEquals(0.9953222650189527, CpuOps.erf(2), 1.2e-7);
        assertEquals(-0.9661051464753108, CpuOps.erf(-1.5), 1.2e-7);
        assertTrue(CpuOps.erf(-0.5) < 0);
    }
}

package dev.attune.kernels.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.attune.kernels.cpu.CpuOps;
import dev.attune.kernels.cpu.CpuThreads;
import dev.attune.kernels.precision.StoredPrecision;
import dev.attune.kernels.select.ComputeDtype;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * Each encoder op in each dtype against {@link CpuOps} or a plain loop on dtype-rounded inputs,
 * plus the transfers (round trips, chunked staging) and the non-finite counter.
 */
@Tag("gpu")
class CudaEncoderOpsTest {

    private static CudaBackend backend;
    private static CpuThreads threads;

    @BeforeAll
    static void open() {
        backend = CudaBackend.open(GpuFixture.firstGpu());
        threads = CpuThreads.single();
    }

    @AfterAll
    static void close() {
        if (backend != null) {
            backend.close();
        }
    }

    private static void near(float[] want, float[] got, double[] tol, String what) {
        assertEquals(want.length, got.length, what);
        for (int i = 0; i < want.length; i++) {
            double err = Math.abs(got[i] - want[i]);
            assertTrue(
                    err <= tol[i],
                    what + " [" + i + "]: got " + got[i] + ", want " + want[i] + " (tolerance " + tol[i] + ")");
        }
    }

    @Test
    void uploadsAndDownloadsRoundTripInEveryDtype() {
        Random rnd = new Random(1);
        try (CudaSession s = backend.session()) {
            for (ComputeDtype dt : ComputeDtype.values()) {
                float[] x = GpuFixture.random(rnd, 1000, 100f, dt);
                assertArrayEquals(x, s.download(s.upload(x, 0, x.length, dt)), dt.id());
                // offset uploads
                float[] part = s.download(s.upload(x, 10, 7, dt));
                assertArrayEquals(java.util.Arrays.copyOfRange(x, 10, 17), part, dt.id());
                // fp32 -> dtype on the device rounds like the host
                float[] raw = new float[1000];
                for (int i = 0; i < raw.length; i++) {
                    raw[i] = (rnd.nextFloat() * 2 - 1) * 10;
                }
                GpuArray f32 = s.upload(raw, 0, raw.length, ComputeDtype.FP32);
                GpuArray narrow = s.alloc(dt, raw.length);
                s.ops().fromF32(f32, narrow, raw.length);
                float[] got = s.download(narrow);
                for (int i = 0; i < raw.length; i++) {
                    assertEquals(StoredPrecision.round(raw[i], dt), got[i], dt + " from_f32 of " + raw[i]);
                }
            }
            int[] ids = rnd.ints(5000, -1000, 1000).toArray();
            assertArrayEquals(ids, s.downloadInts(s.upload(ids)));
            // larger than the staging buffer: chunked both ways
            float[] big = new float[(SessionStream.MAX_STAGING / Float.BYTES) * 2 + 12345];
            for (int i = 0; i < big.length; i++) {
                big[i] = i * 0.5f;
            }
            assertArrayEquals(big, s.download(s.upload(big, 0, big.length, ComputeDtype.FP32)));
        }
    }

    @Test
    void embeddingSumsTheThreeTables() {
        Random rnd = new Random(2);
        int vocab = 50;
        int positions = 20;
        int types = 2;
        int hidden = 72;
        int tokens = 37;
        for (ComputeDtype dt : ComputeDtype.values()) {
            float[] word = GpuFixture.random(rnd, vocab * hidden, 1f, dt);
            float[] pos = GpuFixture.random(rnd, positions * hidden, 1f, dt);
            float[] type = GpuFixture.random(rnd, types * hidden, 1f, dt);
            int[] ids = rnd.ints(tokens, 0, vocab).toArray();
            int[] tids = rnd.ints(tokens, 0, types).toArray();
            int[] pids = rnd.ints(tokens, 0, positions).toArray();
            float[] want = new float[tokens * hidden];
            double[] tol = new double[want.length];
            double u = GpuFixture.unitRoundoff(dt);
            for (int t = 0; t < tokens; t++) {
                for (int h = 0; h < hidden; h++) {
                    float a = word[ids[t] * hidden + h];
                    float b = pos[pids[t] * hidden + h];
                    float c = type[tids[t] * hidden + h];
                    want[t * hidden + h] = a + b + c;
                    tol[t * hidden + h] = 4 * u * (Math.abs(a) + Math.abs(b) + Math.abs(c)) + 1e-6;
                }
            }
            GpuArray w = backend.resident(word, dt);
            GpuArray p = backend.resident(pos, dt);
            GpuArray ty = backend.resident(type, dt);
            try (CudaSession s = backend.session()) {
                GpuArray out = s.alloc(dt, (long) tokens * hidden);
                s.ops().embed(s.upload(ids), s.upload(tids), s.upload(pids), w, p, ty, out, tokens, hidden);
                near(want, s.download(out), tol, "embed " + dt);
            } finally {
                backend.release(w);
                backend.release(p);
                backend.release(ty);
            }
        }
    }

    @Test
    void addLayerNormWithAndWithoutResidual() {
        Random rnd = new Random(3);
        int rows = 19;
        for (int hidden : new int[] {32, 384, 1000}) {
            for (ComputeDtype dt : ComputeDtype.values()) {
                for (boolean withResidual : new boolean[] {true, false}) {
                    float[] x = GpuFixture.random(rnd, rows * hidden, 2f, dt);
                    float[] r = withResidual ? GpuFixture.random(rnd, rows * hidden, 2f, dt) : null;
                    float[] gamma = GpuFixture.random(rnd, hidden, 1.5f, dt);
                    float[] beta = GpuFixture.random(rnd, hidden, 0.5f, dt);
                    float[] want = x.clone();
                    CpuOps.addLayerNorm(want, r, rows, hidden, gamma, beta, 1e-12f, threads);
                    double u = GpuFixture.unitRoundoff(dt);
                    double[] tol = new double[want.length];
                    for (int i = 0; i < tol.length; i++) {
                        tol[i] = 8 * u * (1 + Math.abs(want[i])) + 1e-4;
                    }
                    try (CudaSession s = backend.session()) {
                        GpuArray dx = s.upload(x, 0, x.length, dt);
                        GpuArray dr = withResidual ? s.upload(r, 0, r.length, dt) : null;
                        s.ops()
                                .addLayerNorm(
                                        dx,
                                        dr,
                                        s.upload(gamma, 0, hidden, dt),
                                        s.upload(beta, 0, hidden, dt),
                                        1e-12f,
                                        rows,
                                        hidden);
                        near(
                                want,
                                s.download(dx),
                                tol,
                                "addLayerNorm " + dt + " hidden=" + hidden + (withResidual ? " residual" : ""));
                    }
                }
            }
        }
    }

    @Test
    void geluAndResidualAdd() {
        Random rnd = new Random(4);
        int n = 100_003;
        for (ComputeDtype dt : ComputeDtype.values()) {
            float[] x = GpuFixture.random(rnd, n, 6f, dt);
            float[] r = GpuFixture.random(rnd, n, 6f, dt);
            float[] gelu = x.clone();
            CpuOps.geluErf(gelu, 1, n, threads);
            double u = GpuFixture.unitRoundoff(dt);
            double[] tolGelu = new double[n];
            float[] sum = new float[n];
            double[] tolSum = new double[n];
            for (int i = 0; i < n; i++) {
                tolGelu[i] = 2 * u * Math.abs(gelu[i]) + 1e-5;
                sum[i] = x[i] + r[i];
                tolSum[i] = 2 * u * (Math.abs(x[i]) + Math.abs(r[i])) + 1e-7;
            }
            try (CudaSession s = backend.session()) {
                GpuArray dx = s.upload(x, 0, n, dt);
                s.ops().gelu(dx, n);
                near(gelu, s.download(dx), tolGelu, "gelu " + dt);
                GpuArray dy = s.upload(x, 0, n, dt);
                s.ops().residualAdd(dy, s.upload(r, 0, n, dt), n);
                near(sum, s.download(dy), tolSum, "residualAdd " + dt);
            }
        }
    }

    @Test
    void poolingAndL2Normalization() {
        Random rnd = new Random(5);
        int[] lengths = {1, 17, 128, 3};
        int[] cu = GpuFixture.cuSeqlens(lengths);
        int batch = lengths.length;
        int hidden = 96;
        for (ComputeDtype dt : ComputeDtype.values()) {
            float[] x = GpuFixture.random(rnd, cu[batch] * hidden, 1f, dt);
            float[] mean = new float[batch * hidden];
            float[] cls = new float[batch * hidden];
            float[] unit = new float[batch * hidden];
            for (int b = 0; b < batch; b++) {
                for (int h = 0; h < hidden; h++) {
                    double acc = 0;
                    for (int t = cu[b]; t < cu[b + 1]; t++) {
                        acc += x[t * hidden + h];
                    }
                    mean[b * hidden + h] = (float) (acc / lengths[b]);
                    cls[b * hidden + h] = x[cu[b] * hidden + h];
                }
                double sq = 0;
                for (int h = 0; h < hidden; h++) {
                    sq += (double) mean[b * hidden + h] * mean[b * hidden + h];
                }
                double norm = Math.max(Math.sqrt(sq), 1e-12);
                for (int h = 0; h < hidden; h++) {
                    unit[b * hidden + h] = (float) (mean[b * hidden + h] / norm);
                }
            }
            double[] tolMean = new double[mean.length];
            java.util.Arrays.fill(tolMean, 2e-6);
            double[] exact = new double[cls.length];
            double[] tolUnit = new double[unit.length];
            java.util.Arrays.fill(tolUnit, 1e-5);
            try (CudaSession s = backend.session()) {
                GpuArray dx = s.upload(x, 0, x.length, dt);
                GpuArray dcu = s.upload(cu);
                GpuArray outMean = s.alloc(ComputeDtype.FP32, (long) batch * hidden);
                GpuArray outCls = s.alloc(ComputeDtype.FP32, (long) batch * hidden);
                s.ops().poolMean(dx, dcu, batch, hidden, outMean);
                s.ops().poolCls(dx, dcu, batch, hidden, outCls);
                near(mean, s.download(outMean), tolMean, "poolMean " + dt);
                near(cls, s.download(outCls), exact, "poolCls " + dt);
                s.ops().l2Normalize(outMean, batch, hidden, 1e-12f);
                near(unit, s.download(outMean), tolUnit, "l2Normalize after poolMean " + dt);
            }
        }
    }

    @Test
    void countsNonFiniteValuesAsTheDtypeHoldsThem() {
        Random rnd = new Random(6);
        int n = 300_001;
        for (ComputeDtype dt : ComputeDtype.values()) {
            float[] x = GpuFixture.random(rnd, n, 1f, dt);
            x[0] = Float.NaN;
            x[17] = Float.POSITIVE_INFINITY;
            x[n - 1] = Float.NEGATIVE_INFINITY;
            x[1234] = 1e6f; // infinite in fp16 only
            long want = 0;
            for (float v : x) {
                if (!Float.isFinite(StoredPrecision.round(v, dt))) {
                    want++;
                }
            }
            try (CudaSession s = backend.session()) {
                GpuArray dx = s.upload(x, 0, n, dt);
                assertEquals(want, s.ops().countNonFinite(dx, n), dt.id());
                assertEquals(0, s.ops().countNonFinite(dx.slice(1, 16), 16), dt.id());
            }
        }
        assertFalse(backend.contextLost());
    }
}

package dev.attune.kernels.cuda;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.attune.kernels.cpu.CpuGemm;
import dev.attune.kernels.cpu.CpuOps;
import dev.attune.kernels.cpu.CpuThreads;
import dev.attune.kernels.cuda.launch.GemmLaunch;
import dev.attune.kernels.cuda.launch.GemmVariant;
import dev.attune.kernels.device.ComputeCapability;
import dev.attune.kernels.select.ComputeDtype;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * Each GEMM variant the device runs, for each dtype it takes, against {@link CpuGemm} on the same
 * (dtype-rounded) inputs: ragged m, n and k (tails of every tile), both epilogues, with and
 * without bias. The GPU's {@code w} is (n, k), a PyTorch Linear's layout; the CPU's is (k, n).
 */
@Tag("gpu")
class CudaGemmTest {

    /** (m, n, k): single rows, tile tails, several tiles, a deep k. */
    private static final int[][] SHAPES = {
        {1, 8, 8},
        {3, 40, 24},
        {37, 136, 72},
        {130, 264, 136},
        {257, 128, 1000},
        {64, 384, 384},
        {5, 33, 17},
        {129, 65, 31},
        {2, 1, 1}
    };

    private static CudaBackend backend;
    private static CpuThreads threads;

    @BeforeAll
    static void open() {
        backend = CudaBackend.open(GpuFixture.firstGpu());
        threads = new CpuThreads(Math.max(1, Runtime.getRuntime().availableProcessors()));
    }

    @AfterAll
    static void close() {
        if (threads != null) {
            threads.close();
        }
        if (backend != null) {
            backend.close();
        }
    }

    @Test
    void everyVariantMatchesTheCpu() {
        Random rnd = new Random(77);
        List<String> failures = new ArrayList<>();
        Set<GemmVariant> ran = EnumSet.noneOf(GemmVariant.class);
        try (CudaSession s = backend.session()) {
            for (GemmVariant variant : GemmVariant.values()) {
                for (ComputeDtype dt : ComputeDtype.values()) {
                    for (int[] shape : SHAPES) {
                        int m = shape[0];
                        int n = shape[1];
                        int k = shape[2];
                        if (!s.ops().runs(variant, dt, n, k)) {
                            continue;
                        }
                        ran.add(variant);
                        for (int epilogue : new int[] {GemmLaunch.EPILOGUE_NONE, GemmLaunch.EPILOGUE_GELU}) {
                            for (boolean withBias : new boolean[] {true, false}) {
                                String f = runCase(s, variant, dt, m, n, k, epilogue, withBias, rnd);
                                if (f != null) {
                                    failures.add(f);
                                }
                            }
                        }
                    }
                }
            }
        }
        assertTrue(ran.contains(GemmVariant.SIMT), "SIMT runs everywhere");
        if (backend.device().capability().atLeast(ComputeCapability.SM80)) {
            assertTrue(ran.containsAll(EnumSet.allOf(GemmVariant.class)), "sm80+ runs every variant: " + ran);
        }
        assertTrue(failures.isEmpty(), String.join("\n", failures.subList(0, Math.min(30, failures.size()))));
    }

    private static String runCase(
            CudaSession s,
            GemmVariant variant,
            ComputeDtype dt,
            int m,
            int n,
            int k,
            int epilogue,
            boolean withBias,
            Random rnd) {
        float[] a = GpuFixture.random(rnd, m * k, 1f, dt);
        float[] w = GpuFixture.random(rnd, n * k, 0.5f, dt); // (n, k)
        float[] bias = withBias ? GpuFixture.random(rnd, n, 1f, dt) : null;

        float[] wt = new float[k * n]; // (k, n) for the CPU
        for (int j = 0; j < n; j++) {
            for (int c = 0; c < k; c++) {
                wt[c * n + j] = w[j * k + c];
            }
        }
        float[] want = new float[m * n];
        CpuGemm.matmul(a, m, k, wt, n, bias, want, threads);
        if (epilogue == GemmLaunch.EPILOGUE_GELU) {
            CpuOps.geluErf(want, m, n, threads);
        }

        GpuArray da = s.upload(a, 0, a.length, dt);
        GpuArray dw = s.upload(w, 0, w.length, dt);
        GpuArray db = withBias ? s.upload(bias, 0, n, dt) : null;
        GpuArray dc = s.alloc(dt, (long) m * n);
        s.ops().gemm(variant, da, dw, db, dc, m, n, k, epilogue);
        float[] got = s.download(dc);
        for (GpuArray x : new GpuArray[] {da, dw, db, dc}) {
            if (x != null) {
                s.recycle(x);
            }
        }

        double u = GpuFixture.unitRoundoff(dt);
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < n; j++) {
                double sumAbs = withBias ? Math.abs(bias[j]) : 0;
                for (int c = 0; c < k; c++) {
                    sumAbs += Math.abs(a[i * k + c] * w[j * k + c]);
                }
                // fp32 accumulation in any order, then one rounding to the dtype (GELU's slope is below 1.13)
                double tol = 2 * u * Math.abs(want[i * n + j]) + (k + 2) * 0x1p-23 * sumAbs * 1.2 + 1e-6;
                double err = Math.abs(got[i * n + j] - want[i * n + j]);
                if (!(err <= tol)) {
                    return variant + " " + dt + " m=" + m + " n=" + n + " k=" + k + " epilogue=" + epilogue
                            + (withBias ? " bias" : " no bias") + ": c[" + i + "," + j + "] = " + got[i * n + j]
                            + ", want " + want[i * n + j] + " (tolerance " + tol + ")";
                }
            }
        }
        return null;
    }

    @Test
    void theDefaultChoiceMatchesTooAndTakesAnyShape() {
        Random rnd = new Random(5);
        try (CudaSession s = backend.session()) {
            for (ComputeDtype dt : ComputeDtype.values()) {
                for (int[] shape : SHAPES) {
                    int m = shape[0];
                    int n = shape[1];
                    int k = shape[2];
                    float[] a = GpuFixture.random(rnd, m * k, 1f, dt);
                    float[] w = GpuFixture.random(rnd, n * k, 0.5f, dt);
                    GpuArray dc = s.alloc(dt, (long) m * n);
                    s.ops()
                            .gemm(
                                    s.upload(a, 0, a.length, dt),
                                    s.upload(w, 0, w.length, dt),
                                    null,
                                    dc,
                                    m,
                                    n,
                                    k,
                                    GemmLaunch.EPILOGUE_NONE);
                    float[] got = s.download(dc);
                    for (int i = 0; i < m; i++) {
                        for (int j = 0; j < n; j++) {
                            double ref = 0;
                            double sumAbs = 0;
                            for (int c = 0; c < k; c++) {
                                ref += (double) a[i * k + c] * w[j * k + c];
                                sumAbs += Math.abs((double) a[i * k + c] * w[j * k + c]);
                            }
                            double tol =
                                    2 * GpuFixture.unitRoundoff(dt) * Math.abs(ref) + (k + 2) * 0x1p-23 * sumAbs + 1e-6;
                            double err = Math.abs(got[i * n + j] - ref);
                            assertTrue(
                                    err <= tol,
                                    dt + " " + m + "x" + n + "x" + k + " c[" + i + "," + j + "] = " + got[i * n + j]
                                            + ", want " + ref);
                        }
                    }
                }
            }
        }
    }
}

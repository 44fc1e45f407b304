package dev.attune.examples.bench;

import dev.attune.kernels.cuda.CudaBackend;
import dev.attune.kernels.cuda.CudaSession;
import dev.attune.kernels.cuda.GpuArray;
import dev.attune.kernels.cuda.PtxJitCache;
import dev.attune.kernels.cuda.PtxWarmup;
import dev.attune.kernels.cuda.launch.GemmLaunch;
import dev.attune.kernels.device.DeviceInfo;
import dev.attune.kernels.device.GpuProbe;
import dev.attune.kernels.device.ProbeResult;
import dev.attune.kernels.select.ComputeDtype;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;

/**
 * What the CUDA backend pays before and while it computes, on the first GPU the probe finds; it
 * needs the kernels module and JCuda only, so it runs from the small carry of
 * examples/bench/gpu-session.sh on a GPU machine without Maven:
 *
 * <ol>
 *   <li><b>Opening</b>: {@link CudaBackend#open} (the primary context) and the background load of
 *       every shipped PTX module ({@link CudaBackend#modulesLoaded}), per module: a JIT on a cold
 *       driver cache, a read on a warm one. Run it twice with the same fresh {@code CUDA_CACHE_PATH}
 *       to see both (gpu-session.sh does).
 *   <li><b>Weight upload</b>: {@link CudaBackend#resident} of {@code --upload-mib} MiB of fp32 host
 *       values as fp16 and as fp32, best of 3, GB/s of host bytes (the conversion of one chunk
 *       overlaps the copy of the one before).
 *   <li><b>CPU while waiting</b>: a stream of fp32 GEMMs of about {@code --wait-ms}, then one
 *       {@link CudaSession#synchronize}: the waiting thread's CPU time against the wall time
 *       (near 0 with blocking synchronisation, near 100% when the driver spins).
 * </ol>
 *
 * <pre>java -cp ... dev.attune.examples.bench.GpuBackendBenchmark [--upload-mib 512] [--wait-ms 1000]</pre>
 */
public final class GpuBackendBenchmark {

    private GpuBackendBenchmark() {}

    public static void main(String[] args) {
        Map<String, String> opts = new LinkedHashMap<>();
        for (int i = 0; i + 1 < args.length; i += 2) {
            opts.put(args[i].replaceFirst("^--", ""), args[i + 1]);
        }
        System.exit(run(opts) == null ? 2 : 0);
    }

    /** Runs the three parts; the GPU measured, or null (after one line on stderr) when there is none. */
    public static DeviceInfo run(Map<String, String> opts) {
        int uploadMib = Integer.parseInt(opts.getOrDefault("upload-mib", "512"));
        int waitMs = Integer.parseInt(opts.getOrDefault("wait-ms", "1000"));
        ProbeResult probe = GpuProbe.probe(List.of());
        if (probe.devices().isEmpty()) {
            System.err.println("gpu benchmark: no GPU: " + probe.reason());
            return null;
        }
        DeviceInfo gpu = probe.devices().get(0);
        System.out.println(
                "device " + gpu.label() + ", " + PtxJitCache.current().describe());
        long t0 = System.nanoTime();
        try (CudaBackend backend = CudaBackend.open(gpu)) {
            long opened = System.nanoTime();
            List<PtxWarmup.Module> modules = backend.modulesLoaded().join();
            long loaded = System.nanoTime();
            System.out.printf(
                    "open: context %.0f ms, all modules loaded %.0f ms after open%n",
                    ms(opened - t0), ms(loaded - opened));
            for (PtxWarmup.Module m : modules) {
                System.out.printf(
                        "  module %-22s %6d ms%s%n",
                        m.module(), m.millis(), m.failure().isEmpty() ? "" : "  REFUSED: " + m.failure());
            }
            upload(backend, uploadMib);
            waitCpu(backend, waitMs);
        }
        return gpu;
    }

    private static void upload(CudaBackend backend, int mib) {
        float[] host = new float[mib << 18];
        Random rnd = new Random(1);
        for (int i = 0; i < host.length; i++) {
            host[i] = rnd.nextFloat() - 0.5f;
        }
        backend.release(backend.resident(new float[1 << 20], ComputeDtype.FP16)); // the staging buffer, pinned
        for (ComputeDtype dt : new ComputeDtype[] {ComputeDtype.FP16, ComputeDtype.FP32}) {
            long best = Long.MAX_VALUE;
            for (int r = 0; r < 3; r++) {
                long t = System.nanoTime();
                GpuArray a = backend.resident(host, dt);
                best = Math.min(best, System.nanoTime() - t);
                backend.release(a);
            }
            System.out.printf(
                    "upload: %d MiB of fp32 host values as %s in %.1f ms: %.2f GB/s of host bytes%n",
                    mib, dt.name().toLowerCase(Locale.ROOT), ms(best), host.length * 4.0 / best);
        }
    }

    private static void waitCpu(CudaBackend backend, int waitMs) {
        ThreadMXBean mx = ManagementFactory.getThreadMXBean();
        int n = 4096;
        try (CudaSession s = backend.session()) {
            GpuArray x = s.alloc(ComputeDtype.FP32, (long) n * n);
            GpuArray w = s.alloc(ComputeDtype.FP32, (long) n * n);
            GpuArray c = s.alloc(ComputeDtype.FP32, (long) n * n);
            s.zero(x);
            s.zero(w);
            s.ops().gemm(x, w, null, c, n, n, n, GemmLaunch.EPILOGUE_NONE); // warm-up
            s.synchronize();
            long t = System.nanoTime();
            s.ops().gemm(x, w, null, c, n, n, n, GemmLaunch.EPILOGUE_NONE);
            s.synchronize();
            double one = Math.max(0.01, ms(System.nanoTime() - t));
            int launches = (int) Math.max(1, Math.min(20_000, Math.round(waitMs / one)));
            for (int i = 0; i < launches; i++) {
                s.ops().gemm(x, w, null, c, n, n, n, GemmLaunch.EPILOGUE_NONE);
            }
            long cpu0 = mx.getCurrentThreadCpuTime();
            long wall0 = System.nanoTime();
            s.synchronize();
            double wall = ms(System.nanoTime() - wall0);
            double cpu = ms(mx.getCurrentThreadCpuTime() - cpu0);
            System.out.printf(
                    "wait: %d fp32 GEMMs %dx%dx%d (%.2f ms each); the waiting thread used %.1f ms of CPU in %.0f ms (%.1f%%)%n",
                    launches, n, n, n, one, cpu, wall, 100 * cpu / wall);
        }
    }

    static double ms(long nanos) {
        return nanos / 1e6;
    }
}

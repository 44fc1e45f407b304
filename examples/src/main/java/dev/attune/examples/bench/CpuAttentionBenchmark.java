package dev.attune.examples.bench;

import dev.attune.kernels.attention.AttentionKernel;
import dev.attune.kernels.attention.AttentionProblem;
import dev.attune.kernels.attention.CpuFlashAttention;
import dev.attune.kernels.attention.CpuMathAttention;
import dev.attune.kernels.cpu.CpuThreads;
import java.lang.management.ManagementFactory;
import java.util.List;
import java.util.Map;
import java.util.Random;

/**
 * Workspace and speed of the two CPU attention paths at long sequence lengths: one row,
 * {@code --heads} heads of {@code --head-dim}, N from 512 to 16k. Workspace is reported twice: as
 * the kernel declares it ({@link AttentionKernel#workspaceBytes}) and as measured, the bytes
 * every thread allocated during the call (HotSpot's per-thread allocation counters), so the
 * declared figure is checked against what really happened.
 *
 * <pre>bin/attune bench cpu-attention --threads 2</pre>
 */
public final class CpuAttentionBenchmark {

    private CpuAttentionBenchmark() {}

    public static int run(Map<String, String> opts) {
        int threads = Integer.parseInt(
                opts.getOrDefault("threads", String.valueOf(Runtime.getRuntime().availableProcessors())));
        int heads = Integer.parseInt(opts.getOrDefault("heads", "2"));
        int d = Integer.parseInt(opts.getOrDefault("head-dim", "64"));
        List<Integer> lengths = List.of(512, 2048, 8192, 16384);
        com.sun.management.ThreadMXBean mx = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        System.out.printf("one row, %d heads x head_dim %d, not causal, %d threads%n%n", heads, d, threads);
        System.out.println("| N | path | workspace declared | allocated during the call | seconds | GFLOP/s |");
        System.out.println("|---|---|---|---|---|---|");
        try (CpuThreads pool = new CpuThreads(threads)) {
            for (int n : lengths) {
                int w = heads * d;
                float[] qkv = new float[n * 3 * w];
                Random r = new Random(n);
                for (int i = 0; i < qkv.length; i++) {
                    qkv[i] = (float) r.nextGaussian();
                }
                float[] out = new float[n * w];
                AttentionProblem p = AttentionProblem.fusedQkv(new int[] {0, n}, heads, d, false);
                for (AttentionKernel k : List.of(new CpuFlashAttention(), new CpuMathAttention())) {
                    k.forward(AttentionProblem.fusedQkv(new int[] {0, 256}, heads, d, false), qkv, qkv, qkv, out, pool);
                    long before = allocated(mx);
                    long t0 = System.nanoTime();
                    k.forward(p, qkv, qkv, qkv, out, pool);
                    double s = (System.nanoTime() - t0) / 1e9;
                    long alloc = allocated(mx) - before;
                    double flops = 4.0 * heads * n * (double) n * d;
                    System.out.printf(
                            "| %d | %s | %s | %s | %.2f | %.1f |%n",
                            n, k.path(), mib(k.workspaceBytes(p, threads)), mib(alloc), s, flops / s / 1e9);
                }
            }
        }
        return 0;
    }

    private static long allocated(com.sun.management.ThreadMXBean mx) {
        long sum = 0;
        for (long b : mx.getThreadAllocatedBytes(mx.getAllThreadIds())) {
            sum += Math.max(0, b);
        }
        return sum;
    }

    private static String mib(long bytes) {
        return String.format("%.2f MiB", bytes / 1048576.0);
    }
}

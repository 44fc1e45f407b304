package dev.attune.kernels.attention;

import dev.attune.kernels.cpu.CpuThreads;

/**
 * Attention over paged KV caches on one path (see {@link PagedAttentionProblem}).
 *
 * <p>Threading: implementations are stateless and may be shared by any number of threads; each
 * call may use {@code threads} and returns when the output is written. The cache is read, never
 * written.
 */
public interface PagedAttentionKernel {

    /** The attention path this kernel implements ({@code cpu-flash}, {@code cpu-math}). */
    String path();

    /**
     * {@code out} (queries, heads, headDim) from {@code q} (same layout) against one layer's cached
     * keys and values ({@link dev.attune.kernels.kv.KvBlockPool#keys}, {@code values}).
     */
    void forward(PagedAttentionProblem p, float[] q, float[] kCache, float[] vCache, float[] out, CpuThreads threads);

    /** The paged kernel of a CPU path: {@code cpu-math} the oracle, {@code cpu-flash} otherwise. */
    static PagedAttentionKernel forPath(String path) {
        return CpuMathAttention.PATH.equals(path) ? new CpuMathPagedAttention() : new CpuFlashPagedAttention();
    }

    static void checkBuffers(PagedAttentionProblem p, float[] q, float[] out) {
        long n = (long) p.totalQueries() * p.rowWidth();
        if (q.length < n || out.length < n) {
            throw new IllegalArgumentException("Q and the output need " + n + " floats for " + p);
        }
    }
}

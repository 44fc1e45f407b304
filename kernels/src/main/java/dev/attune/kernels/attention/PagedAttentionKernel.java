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
     * {@code out} (queries, heads, headDim) from the queries in {@code q} (row t's heads start at
     * {@code t * qStride + qCol}: a fused q | k | v projection is read in place) against one
     * layer's cached keys and values ({@link dev.attune.kernels.kv.KvBlockPool#keys}, {@code values}).
     */
    void forward(
            PagedAttentionProblem p,
            float[] q,
            int qCol,
            int qStride,
            float[] kCache,
            float[] vCache,
            float[] out,
            CpuThreads threads);

    /**
     * The paged kernel for a path's algorithm on the CPU: the fp64 oracle for the explicit-score
     * paths ({@code cpu-math}, and {@code math} on a simulated GPU), online softmax otherwise.
     */
    static PagedAttentionKernel forPath(String path) {
        return CpuMathAttention.PATH.equals(path) || "math".equals(path)
                ? new CpuMathPagedAttention()
                : new CpuFlashPagedAttention();
    }

    static void checkBuffers(PagedAttentionProblem p, float[] q, int qCol, int qStride, float[] out) {
        long n = (long) p.totalQueries() * p.rowWidth();
        long qn = p.totalQueries() == 0 ? 0 : (long) (p.totalQueries() - 1) * qStride + qCol + p.rowWidth();
        if (qCol < 0 || qStride < p.rowWidth() || q.length < qn || out.length < n) {
            throw new IllegalArgumentException(
                    "Q (from column " + qCol + ", stride " + qStride + ") and the output" + " do not fit " + p);
        }
    }
}

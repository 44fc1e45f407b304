package dev.attune.kernels.attention;

import dev.attune.kernels.cpu.CpuThreads;

/**
 * One attention path running on the CPU's memory: {@code out = softmax(scale · Q·Kᵀ) · V} per
 * row and head of a packed batch (see {@link AttentionProblem} for the layout).
 *
 * <p>Threading: implementations are stateless and may be shared by any number of threads; each
 * call splits its own work across the given {@link CpuThreads} and allocates its own workspace.
 *
 * <p>Failure: shapes that do not fit the buffers raise {@link IllegalArgumentException} before
 * any output is written. A row of length zero produces no output.
 */
public interface AttentionKernel {

    /** The path's name in the catalogue, for example {@code cpu-math}. */
    String path();

    void forward(AttentionProblem problem, float[] q, float[] k, float[] v, float[] out, CpuThreads threads);

    /**
     * Bytes of scratch memory one call needs beyond its inputs and output, for the given problem
     * and thread count. The memory planner and the workspace benchmark use it; it must match what
     * {@link #forward} really allocates.
     */
    long workspaceBytes(AttentionProblem problem, int threads);

    /** Checks that the buffers are large enough for the problem. */
    static void checkBuffers(AttentionProblem p, float[] q, float[] k, float[] v, float[] out) {
        long in = (long) p.totalTokens() * p.rowStride();
        long o = (long) p.totalTokens() * p.outWidth();
        if (q.length < in || k.length < in || v.length < in) {
            throw new IllegalArgumentException("Q/K/V buffers hold fewer than " + in + " floats for " + p);
        }
        if (out.length < o) {
            throw new IllegalArgumentException("output buffer holds fewer than " + o + " floats for " + p);
        }
    }
}

package dev.attune.kernels.cuda.launch;

import dev.attune.kernels.select.ComputeDtype;

/**
 * Launch shapes of {@code math_attention.cu}, the explicit path: for one chunk of query positions
 * {@code [q_begin, q_begin + q_count)} of every row it writes the scores, softmaxes them in place
 * and multiplies by V. The score buffer is fp32, {@code (batch, heads, q_count, max_seqlen)};
 * entries for keys past a row's length, or masked by causality, hold -inf before the softmax and
 * 0 after; rows of queries past a row's length are left as they are and never read. Scores are
 * logits, {@code scale · q·k}; the softmax evaluates {@code exp(x - max)} in fp32 as
 * {@code exp2f((x - max) · log2 e)}.
 *
 * <pre>
 * math_scores_&lt;dt&gt;(const T* q, const T* k, float* s, const int* cu_seqlens, int batch, int heads,
 *                    int head_dim, int q_stride, int kv_stride, int max_seqlen, int q_begin,
 *                    int q_count, float scale, int causal)
 * math_softmax(float* s, const int* cu_seqlens, int batch, int heads, int max_seqlen, int q_begin,
 *              int q_count)
 * math_pv_&lt;dt&gt;(const float* s, const T* v, T* o, const int* cu_seqlens, int batch, int heads,
 *                int head_dim, int kv_stride, int o_stride, int max_seqlen, int q_begin, int q_count)
 * </pre>
 * Grids put (batch · heads) on x, the chunk's queries on y (so a chunk holds at most 65535
 * queries), and keys (scores) or output dimensions (pv) in tiles of 128 on z.
 */
public final class MathAttentionLaunch {

    public static final MathAttentionLaunch INSTANCE = new MathAttentionLaunch();

    static final int THREADS = 128;
    /** The largest query chunk one launch covers (grid y). */
    public static final int MAX_QUERY_CHUNK = 65535;

    private MathAttentionLaunch() {}

    public String module() {
        return "math_attention";
    }

    /** fp32 bytes of the score buffer for one chunk. */
    public static long scoreBytes(int batch, int heads, int queryChunk, int maxSeqlen) {
        return 4L * batch * heads * queryChunk * maxSeqlen;
    }

    public LaunchShape scores(ComputeDtype dtype, int heads, int batch, int maxSeqlen, int queryCount) {
        checkChunk(queryCount);
        return new LaunchShape(
                "math_scores_" + LaunchShape.suffix(dtype),
                Math.multiplyExact(batch, heads),
                queryCount,
                LaunchShape.ceilDiv(maxSeqlen, THREADS),
                THREADS,
                0);
    }

    public LaunchShape softmax(int heads, int batch, int queryCount) {
        checkChunk(queryCount);
        return new LaunchShape("math_softmax", Math.multiplyExact(batch, heads), queryCount, 1, THREADS, 0);
    }

    public LaunchShape pv(ComputeDtype dtype, int headDim, int heads, int batch, int queryCount) {
        checkChunk(queryCount);
        return new LaunchShape(
                "math_pv_" + LaunchShape.suffix(dtype),
                Math.multiplyExact(batch, heads),
                queryCount,
                LaunchShape.ceilDiv(headDim, THREADS),
                THREADS,
                0);
    }

    private static void checkChunk(int queryCount) {
        if (queryCount < 1 || queryCount > MAX_QUERY_CHUNK) {
            throw new IllegalArgumentException(
                    "a math attention chunk holds 1.." + MAX_QUERY_CHUNK + " queries, got " + queryCount);
        }
    }
}

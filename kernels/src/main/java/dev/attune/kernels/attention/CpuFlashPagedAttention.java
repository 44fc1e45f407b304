package dev.attune.kernels.attention;

import dev.attune.kernels.cpu.CpuThreads;
import dev.attune.kernels.cpu.VectorPrimitives;

/**
 * {@code cpu-flash} over paged KV caches: online softmax over the keys one cache block at a time,
 * fp32 with fp32 accumulation, multithreaded over (sequence, K/V head) units, each unit serving
 * every query head of its group so a block's keys and values are read from the cache once per
 * group while they are in cache (grouped-query attention without copying K/V per query head).
 *
 * <p>Per query and head: scores of the block's visible keys, the running maximum, the accumulator
 * rescaled by {@code exp(m_old - m_new)} when it grows, then the values added with their weights.
 * Memory per worker: one block of scores and one accumulator row, whatever the context length.
 * The result of a unit does not depend on which thread runs it, so it is the same for any thread
 * count.
 */
public final class CpuFlashPagedAttention implements PagedAttentionKernel {

    private final VectorPrimitives simd = VectorPrimitives.get();

    @Override
    public String path() {
        return CpuFlashAttention.PATH;
    }

    @Override
    public void forward(
            PagedAttentionProblem p,
            float[] q,
            int qCol,
            int qStride,
            float[] kCache,
            float[] vCache,
            float[] out,
            CpuThreads threads) {
        PagedAttentionKernel.checkBuffers(p, q, qCol, qStride, out);
        int kvHeads = p.cache().kvHeads();
        threads.parallelForEach(p.batch() * kvHeads, (u0, u1) -> {
            float[] scores = new float[p.cache().blockSize()];
            float[] acc = new float[p.cache().headDim()];
            for (int u = u0; u < u1; u++) {
                unit(p, u / kvHeads, u % kvHeads, q, qCol, qStride, kCache, vCache, out, scores, acc);
            }
        });
    }

    private void unit(
            PagedAttentionProblem p,
            int b,
            int g,
            float[] q,
            int qCol,
            int qStride,
            float[] kCache,
            float[] vCache,
            float[] out,
            float[] s,
            float[] acc) {
        int d = p.cache().headDim();
        int bs = p.cache().blockSize();
        int group = p.heads() / p.cache().kvHeads();
        for (int t = p.queryStarts()[b]; t < p.queryStarts()[b + 1]; t++) {
            int pos = p.position(b, t);
            int first = p.firstKey(pos);
            for (int h = g * group; h < (g + 1) * group; h++) {
                int qo = t * qStride + qCol + h * d;
                int oo = (t * p.heads() + h) * d;
                java.util.Arrays.fill(acc, 0f);
                float max = Float.NEGATIVE_INFINITY;
                float sum = 0f;
                // Keys [first, pos] walked block by block; j0..j1 is the visible part of one block.
                for (int j0 = first; j0 <= pos; ) {
                    int j1 = Math.min(pos + 1, (j0 / bs + 1) * bs);
                    int n = j1 - j0;
                    float blockMax = Float.NEGATIVE_INFINITY;
                    for (int j = j0; j < j1; j++) {
                        float sc = simd.dot(q, qo, kCache, p.keyOffset(b, j, g), d) * p.scale();
                        s[j - j0] = sc;
                        blockMax = Math.max(blockMax, sc);
                    }
                    float newMax = Math.max(max, blockMax);
                    if (newMax > max && sum > 0f) {
                        float correction = (float) Math.exp(max - newMax);
                        simd.scale(correction, acc, 0, d);
                        sum *= correction;
                    }
                    max = newMax;
                    sum += simd.expShiftSum(s, 0, n, max);
                    for (int j = j0; j < j1; j++) {
                        simd.axpy(s[j - j0], vCache, p.keyOffset(b, j, g), acc, 0, d);
                    }
                    j0 = j1;
                }
                float inv = 1f / sum;
                for (int c = 0; c < d; c++) {
                    out[oo + c] = acc[c] * inv;
                }
            }
        }
    }
}

package dev.attune.kernels.attention;

import dev.attune.kernels.cpu.CpuThreads;
import dev.attune.kernels.cpu.VectorPrimitives;

/**
 * {@code cpu-flash}: tiled attention with an online softmax (FlashAttention's algorithm) on the
 * CPU, fp32 with fp32 accumulation, multithreaded.
 *
 * <p>Work is split into (row, head, block of {@link #QUERY_BLOCK} queries) units. A unit copies
 * its head's K (transposed) and V into contiguous tiles, then walks the keys in blocks of
 * {@link #KEY_BLOCK}: scores for the block, a running maximum and sum per query, the accumulator
 * rescaled by {@code exp(m_old - m_new)} whenever the maximum grows. The (N, N) score matrix never
 * exists: workspace per worker is the K/V tiles, O(N · head_dim), plus O(QUERY_BLOCK · head_dim).
 */
public final class CpuFlashAttention implements AttentionKernel {

    public static final String PATH = "cpu-flash";
    static final int QUERY_BLOCK = 32;
    static final int KEY_BLOCK = 64;

    private final VectorPrimitives simd = VectorPrimitives.get();

    @Override
    public String path() {
        return PATH;
    }

    @Override
    public long workspaceBytes(AttentionProblem p, int threads) {
        long n = p.maxKeyLength();
        long d = p.headDim();
        // K and V tiles, the accumulator and running max/sum per query, one block of scores.
        long perWorker = 2 * n * d + (long) QUERY_BLOCK * (d + 2) + KEY_BLOCK;
        return Math.min(threads, units(p)) * perWorker * Float.BYTES;
    }

    private static long units(AttentionProblem p) {
        long u = 0;
        for (int b = 0; b < p.batch(); b++) {
            u += (long) p.heads() * ((p.seqLen(b) + QUERY_BLOCK - 1) / QUERY_BLOCK);
        }
        return Math.max(1, u);
    }

    @Override
    public void forward(AttentionProblem p, float[] q, float[] k, float[] v, float[] out, CpuThreads threads) {
        AttentionKernel.checkBuffers(p, q, k, v, out);
        int heads = p.heads();
        int batch = p.batch();
        // Units are ordered (row, head, query block), block fastest, so consecutive units of a
        // worker share one (row, head) and its K/V tiles are loaded once. unitStart[b] is the
        // first unit of row b.
        int[] unitStart = new int[batch + 1];
        for (int b = 0; b < batch; b++) {
            unitStart[b + 1] = unitStart[b] + heads * blocks(p.seqLen(b));
        }
        int maxKeys = p.maxKeyLength();
        threads.parallelFor(unitStart[batch], 1, (u0, u1) -> {
            Workspace ws = new Workspace(maxKeys, p.headDim());
            int cachedRow = -1;
            int cachedHead = -1;
            for (int u = u0; u < u1; u++) {
                int row = upperBound(unitStart, u) - 1;
                int local = u - unitStart[row];
                int perHead = blocks(p.seqLen(row));
                int h = local / perHead;
                int block = local % perHead;
                // Query heads of one group read the same K/V head: consecutive units share the tile.
                int kvh = p.kvHeadOf(h);
                if (row != cachedRow || kvh != cachedHead) {
                    ws.loadKv(p, k, v, row, kvh);
                    cachedRow = row;
                    cachedHead = kvh;
                }
                queryBlock(p, q, out, row, h, block, ws);
            }
        });
    }

    private static int blocks(int n) {
        return (n + QUERY_BLOCK - 1) / QUERY_BLOCK;
    }

    private void queryBlock(AttentionProblem p, float[] q, float[] out, int row, int h, int block, Workspace ws) {
        int d = p.headDim();
        int start = p.cuSeqlens()[row];
        int n = p.seqLen(row);
        int q0 = block * QUERY_BLOCK;
        int q1 = Math.min(n, q0 + QUERY_BLOCK);
        int rows = q1 - q0;
        float scale = p.scale();
        float[] acc = ws.acc;
        float[] s = ws.scores;
        java.util.Arrays.fill(acc, 0, rows * d, 0f);
        for (int i = 0; i < rows; i++) {
            ws.max[i] = Float.NEGATIVE_INFINITY;
            ws.sum[i] = 0f;
        }
        // Key indices run over the row's keys: a shared prefix's tokens first, then its own.
        int keyEnd = p.keyEnd(row, q1 - 1);
        // With a sliding window the block's first query sees the oldest key any of them sees.
        for (int k0 = p.firstKey(row, q0); k0 < keyEnd; k0 += KEY_BLOCK) {
            int k1 = Math.min(keyEnd, k0 + KEY_BLOCK);
            for (int i = 0; i < rows; i++) {
                int qi = q0 + i;
                int j0 = Math.max(k0, p.firstKey(row, qi));
                int visible = Math.min(k1, p.keyEnd(row, qi)) - j0;
                if (visible <= 0) {
                    continue;
                }
                // Scores of query i against keys [j0, j0 + visible): with K held transposed in the
                // tile, each of the head_dim steps is one axpy across keys, so no horizontal sums.
                int qo = (start + qi) * p.rowStride() + p.qOffset() + h * d;
                java.util.Arrays.fill(s, 0, visible, 0f);
                for (int c = 0; c < d; c++) {
                    simd.axpy(q[qo + c] * scale, ws.kt, c * ws.n + j0, s, 0, visible);
                }
                float blockMax = Float.NEGATIVE_INFINITY;
                for (int j = 0; j < visible; j++) {
                    blockMax = Math.max(blockMax, s[j]);
                }
                float oldMax = ws.max[i];
                float newMax = Math.max(oldMax, blockMax);
                // Rescale what was accumulated under the old maximum; exp(-inf) = 0 on the first block.
                float correction = (float) Math.exp(oldMax - newMax);
                if (correction != 1f) {
                    simd.scale(correction, acc, i * d, d);
                }
                float sum = ws.sum[i] * correction + simd.expShiftSum(s, 0, visible, newMax);
                for (int j = 0; j < visible; j++) {
                    simd.axpy(s[j], ws.v, (j0 + j) * d, acc, i * d, d);
                }
                ws.max[i] = newMax;
                ws.sum[i] = sum;
            }
        }
        for (int i = 0; i < rows; i++) {
            int oo = (start + q0 + i) * p.outWidth() + h * d;
            float inv = ws.sum[i] == 0f ? 0f : 1f / ws.sum[i];
            for (int c = 0; c < d; c++) {
                out[oo + c] = acc[i * d + c] * inv;
            }
        }
    }

    private static int upperBound(int[] a, int key) {
        int lo = 0;
        int hi = a.length;
        while (lo < hi) {
            int mid = (lo + hi) >>> 1;
            if (a[mid] <= key) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        return lo;
    }

    /** One worker's scratch: K (transposed) and V tiles of the current (row, head) and the query block's state. */
    private static final class Workspace {
        final int n;
        final float[] kt;
        final float[] v;
        final float[] acc;
        final float[] scores = new float[KEY_BLOCK];
        final float[] max = new float[QUERY_BLOCK];
        final float[] sum = new float[QUERY_BLOCK];

        Workspace(int maxN, int d) {
            n = maxN;
            kt = new float[maxN * d];
            v = new float[maxN * d];
            acc = new float[QUERY_BLOCK * d];
        }

        /** K/V head {@code h} of a row: K as (head_dim, N) so that scores vectorise across keys; V as (N, head_dim). */
        void loadKv(AttentionProblem p, float[] kSrc, float[] vSrc, int row, int h) {
            int d = p.headDim();
            for (int j = 0; j < p.keyLength(row); j++) {
                int base = p.keyToken(row, j) * p.rowStride() + h * d;
                for (int c = 0; c < d; c++) {
                    kt[c * n + j] = kSrc[base + p.kOffset() + c];
                }
                System.arraycopy(vSrc, base + p.vOffset(), v, j * d, d);
            }
        }
    }
}

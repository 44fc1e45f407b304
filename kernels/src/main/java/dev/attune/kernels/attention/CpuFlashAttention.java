package dev.attune.kernels.attention;

import dev.attune.kernels.cpu.CpuThreads;
import dev.attune.kernels.cpu.VectorPrimitives;

/**
 * {@code cpu-flash}: tiled attention with an online softmax (FlashAttention's algorithm) on the
 * CPU, fp32 with fp32 accumulation, multithreaded.
 *
 * <p>Work is split into (row, head, block of {@link #QUERY_BLOCK} queries) units. A unit copies
 * its head's K (transposed) and V into contiguous tiles, then walks the keys in blocks of
 * {@link #KEY_BLOCK}: scores for the whole query block against the key block (a register-tiled
 * product, {@link VectorPrimitives#scoreBlock}), a running maximum and sum per query, the
 * accumulator rescaled by {@code exp(m_old - m_new)} whenever the maximum grows, then
 * {@code acc += P · V} with the block's accumulator rows held in registers across the keys
 * ({@link VectorPrimitives#accumulateBlock}). Keys a query does not see (causal, window) get
 * probability 0 in a block it shares with queries that do. The (N, N) score matrix never
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
        // K and V tiles, the accumulator and running max/sum per query, the block's scores.
        long perWorker = 2 * n * d + (long) QUERY_BLOCK * (d + 2) + (long) QUERY_BLOCK * KEY_BLOCK;
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
        // The block's queries, one per token row: (rows, head_dim) at a stride of the row width.
        int qBase = (start + q0) * p.rowStride() + p.qOffset() + h * d;
        // Key indices run over the row's keys: a shared prefix's tokens first, then its own.
        int keyEnd = p.keyEnd(row, q1 - 1);
        // With a sliding window the block's first query sees the oldest key any of them sees.
        for (int k0 = p.firstKey(row, q0); k0 < keyEnd; k0 += KEY_BLOCK) {
            int k1 = Math.min(keyEnd, k0 + KEY_BLOCK);
            int cols = k1 - k0;
            // Scores of every query of the block against keys [k0, k1), (rows, cols) at a stride of
            // KEY_BLOCK: one register-tiled product over head_dim with K held transposed in the
            // tile, each score the same chain of fused multiply-adds as one query at a time.
            simd.scoreBlock(q, qBase, p.rowStride(), scale, ws.kt, k0, ws.n, d, s, 0, KEY_BLOCK, rows, cols);
            for (int i = 0; i < rows; i++) {
                int qi = q0 + i;
                int si = i * KEY_BLOCK;
                // Keys this query sees in the block (causal, window); the others get probability 0.
                int j0 = Math.max(k0, p.firstKey(row, qi)) - k0;
                int j1 = Math.min(k1, p.keyEnd(row, qi)) - k0;
                if (j1 <= j0) {
                    java.util.Arrays.fill(s, si, si + cols, 0f);
                    continue;
                }
                java.util.Arrays.fill(s, si, si + j0, 0f);
                float blockMax = Float.NEGATIVE_INFINITY;
                for (int j = j0; j < j1; j++) {
                    blockMax = Math.max(blockMax, s[si + j]);
                }
                java.util.Arrays.fill(s, si + j1, si + cols, 0f);
                float oldMax = ws.max[i];
                float newMax = Math.max(oldMax, blockMax);
                // Rescale what was accumulated under the old maximum; exp(-inf) = 0 on the first block.
                float correction = (float) Math.exp(oldMax - newMax);
                if (correction != 1f) {
                    simd.scale(correction, acc, i * d, d);
                }
                ws.sum[i] = ws.sum[i] * correction + simd.expShiftSum(s, si + j0, j1 - j0, newMax);
                ws.max[i] = newMax;
            }
            // acc (rows, head_dim) += P (rows, cols) · V[k0, k1) (cols, head_dim), the rows held in
            // registers across the keys; a masked key adds 0 · v.
            simd.accumulateBlock(s, 0, KEY_BLOCK, ws.v, k0 * d, d, acc, 0, d, rows, cols, d);
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
        /** The query block's scores, then probabilities, against one key block: (QUERY_BLOCK, KEY_BLOCK). */
        final float[] scores = new float[QUERY_BLOCK * KEY_BLOCK];

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

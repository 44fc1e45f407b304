package dev.attune.kernels.attention;

import dev.attune.kernels.kv.KvShape;
import java.util.Arrays;

/**
 * Attention of new query tokens over their sequences' paged KV caches: the decode step (one new
 * token per sequence) and the chunked prefill of a sequence that already has a cache (several).
 * The way vLLM's paged attention metadata describes it: per sequence, its queries, its context
 * length and its block table.
 *
 * <p>Sequence b's queries are rows {@code [queryStarts[b], queryStarts[b + 1])} of Q, laid out
 * (queries, heads, headDim); they are its last tokens, at positions {@code contextLengths[b] -
 * queries(b) ..}, and their K/V are already in the cache. A query at position i sees the keys j
 * &le; i (causal), and with a sliding window only those with {@code i - j < slidingWindow}. Query
 * head h reads K/V head {@code h / (heads / kvHeads)} in place.
 *
 * @param heads          query heads
 * @param cache          the cache's shape (K/V heads, head width, block size)
 * @param scale          factor on the scores, usually {@code 1 / sqrt(headDim)}
 * @param slidingWindow  keys a query sees at most, 0 for none
 * @param queryStarts    cumulative query offsets, one more than sequences, from 0
 * @param contextLengths tokens cached per sequence, the new ones included
 * @param blockTables    per sequence, the blocks holding its tokens in order
 */
public record PagedAttentionProblem(
        int heads,
        KvShape cache,
        float scale,
        int slidingWindow,
        int[] queryStarts,
        int[] contextLengths,
        int[][] blockTables) {

    public PagedAttentionProblem {
        int batch = contextLengths.length;
        if (heads < 1 || heads % cache.kvHeads() != 0) {
            throw new IllegalArgumentException(
                    heads + " query heads are not a whole number of groups of " + cache.kvHeads() + " K/V heads");
        }
        if (slidingWindow < 0
                || queryStarts.length != batch + 1
                || blockTables.length != batch
                || queryStarts[0] != 0) {
            throw new IllegalArgumentException("paged attention needs queryStarts from 0 with one entry per sequence"
                    + " plus one, a block table per sequence and a window >= 0");
        }
        for (int b = 0; b < batch; b++) {
            int q = queryStarts[b + 1] - queryStarts[b];
            if (q < 1 || q > contextLengths[b] || cache.blocksOf(contextLengths[b]) > blockTables[b].length) {
                throw new IllegalArgumentException("sequence " + b + ": " + q + " queries, " + contextLengths[b]
                        + " cached tokens, " + blockTables[b].length + " blocks of " + cache.blockSize());
            }
        }
    }

    /** A decode step: one query per sequence. */
    public static PagedAttentionProblem decode(
            int heads, KvShape cache, int slidingWindow, int[] contextLengths, int[][] blockTables) {
        int[] starts = new int[contextLengths.length + 1];
        for (int b = 0; b < contextLengths.length; b++) {
            starts[b + 1] = starts[b] + 1;
        }
        return new PagedAttentionProblem(
                heads,
                cache,
                (float) (1.0 / Math.sqrt(cache.headDim())),
                slidingWindow,
                starts,
                contextLengths,
                blockTables);
    }

    public int batch() {
        return contextLengths.length;
    }

    public int totalQueries() {
        return queryStarts[batch()];
    }

    /** Absolute position of query row {@code t} of sequence {@code b}. */
    public int position(int b, int t) {
        return contextLengths[b] - (queryStarts[b + 1] - queryStarts[b]) + (t - queryStarts[b]);
    }

    /** The first key the query at {@code position} sees. */
    public int firstKey(int position) {
        return slidingWindow > 0 ? Math.max(0, position - slidingWindow + 1) : 0;
    }

    /** Offset in a layer's K (or V) cache of K/V head {@code g} of sequence {@code b}'s token {@code j}. */
    public int keyOffset(int b, int j, int g) {
        int bs = cache.blockSize();
        return ((blockTables[b][j / bs] * bs + j % bs) * cache.kvHeads() + g) * cache.headDim();
    }

    /** Width of one row of Q and of the output: {@code heads x headDim}. */
    public int rowWidth() {
        return heads * cache.headDim();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof PagedAttentionProblem p
                && heads == p.heads
                && cache.equals(p.cache)
                && Float.compare(scale, p.scale) == 0
                && slidingWindow == p.slidingWindow
                && Arrays.equals(queryStarts, p.queryStarts)
                && Arrays.equals(contextLengths, p.contextLengths)
                && Arrays.deepEquals(blockTables, p.blockTables);
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(contextLengths) * 31 + heads;
    }

    @Override
    public String toString() {
        return "PagedAttentionProblem[" + batch() + " sequences, " + totalQueries() + " queries, heads=" + heads + ", "
                + cache + (slidingWindow > 0 ? ", window=" + slidingWindow : "") + "]";
    }
}

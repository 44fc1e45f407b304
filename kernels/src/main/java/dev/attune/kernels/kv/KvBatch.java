package dev.attune.kernels.kv;

import dev.attune.kernels.attention.PagedAttentionProblem;
import java.util.List;

/**
 * The sequences of one forward pass over a paged cache: row b of the packed batch holds the new
 * tokens of {@code sequences.get(b)}, at the positions that follow what it has cached. The
 * caller (the scheduler that admits sequences) reserves room in each sequence before the pass and
 * calls {@link #advance} after it, so a pass that fails leaves the sequences as they were.
 *
 * @param pool      the cache
 * @param sequences one per row of the batch, in row order
 */
public record KvBatch(KvBlockPool pool, List<KvSequence> sequences) {

    public KvBatch {
        sequences = List.copyOf(sequences);
    }

    /**
     * The cache offset of each new token, rows back to back as in {@code cuSeqlens}; every
     * sequence must have room for its row's tokens.
     */
    public int[] slots(int[] cuSeqlens) {
        check(cuSeqlens);
        int bs = pool.shape().blockSize();
        int[] slots = new int[cuSeqlens[cuSeqlens.length - 1]];
        for (int b = 0; b < sequences.size(); b++) {
            KvSequence s = sequences.get(b);
            for (int t = cuSeqlens[b]; t < cuSeqlens[b + 1]; t++) {
                int pos = s.length() + t - cuSeqlens[b];
                slots[t] = pool.offset(s.blockOf(pos), pos % bs);
            }
        }
        return slots;
    }

    /** The attention of the rows' new tokens over their whole cached context, this pass's tokens included. */
    public PagedAttentionProblem attention(int heads, int[] cuSeqlens, float scale, int slidingWindow) {
        check(cuSeqlens);
        int n = sequences.size();
        int[] context = new int[n];
        int[][] tables = new int[n][];
        for (int b = 0; b < n; b++) {
            KvSequence s = sequences.get(b);
            context[b] = s.length() + cuSeqlens[b + 1] - cuSeqlens[b];
            tables[b] = s.blockTable();
        }
        return new PagedAttentionProblem(heads, pool.shape(), scale, slidingWindow, cuSeqlens.clone(), context, tables);
    }

    /** Counts each row's tokens as cached, once the pass has written every layer. */
    public void advance(int[] cuSeqlens) {
        for (int b = 0; b < sequences.size(); b++) {
            sequences.get(b).advance(cuSeqlens[b + 1] - cuSeqlens[b]);
        }
    }

    private void check(int[] cuSeqlens) {
        if (cuSeqlens.length != sequences.size() + 1) {
            throw new IllegalArgumentException(
                    (cuSeqlens.length - 1) + " rows for " + sequences.size() + " cached sequences");
        }
        int bs = pool.shape().blockSize();
        for (int b = 0; b < sequences.size(); b++) {
            KvSequence s = sequences.get(b);
            int end = s.length() + cuSeqlens[b + 1] - cuSeqlens[b];
            if (end > s.blocks() * bs) {
                throw new IllegalStateException("sequence of row " + b + " has room for " + s.blocks() * bs
                        + " tokens, the pass needs " + end + ": reserve before the pass");
            }
        }
    }
}

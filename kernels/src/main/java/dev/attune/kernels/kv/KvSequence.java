package dev.attune.kernels.kv;

import java.util.Arrays;

/**
 * One sequence's share of a {@link KvBlockPool}: its block table (block i holds tokens
 * {@code i x blockSize ..}) and the number of tokens cached. Tokens are appended in position
 * order: {@link #reserve} makes room (taking blocks from the pool), {@link #write} stores a token's
 * K and V for one layer, {@link #advance} counts them once every layer has been written.
 *
 * <p>Threading: owned by one thread at a time (the one running the sequence's steps). Failure:
 * {@link #reserve} returns false, holding what it had, when the pool has too few free blocks;
 * {@link #release} gives every block back (finish or preemption) and may be called twice.
 */
public final class KvSequence {

    private final KvBlockPool pool;
    private int[] table = new int[4];
    private int blockCount;
    private int length;
    /** Blocks [0, published) have been offered to the pool's prefix index. */
    private int published;

    public KvSequence(KvBlockPool pool) {
        this.pool = pool;
    }

    /** Tokens cached. */
    public int length() {
        return length;
    }

    /** Blocks held. */
    public int blocks() {
        return blockCount;
    }

    /** The block table: block ids in token order (a copy). */
    public int[] blockTable() {
        return Arrays.copyOf(table, blockCount);
    }

    /** The block holding token {@code position}. */
    public int blockOf(int position) {
        return table[position / pool.shape().blockSize()];
    }

    /**
     * Makes room for {@code tokens} more tokens; false (with the blocks taken so far kept, so a
     * later call can finish) when the pool runs out.
     */
    public boolean reserve(int tokens) {
        int need = pool.shape().blocksOf(length + tokens);
        while (blockCount < need) {
            int b = pool.allocate();
            if (b < 0) {
                return false;
            }
            if (blockCount == table.length) {
                table = Arrays.copyOf(table, table.length * 2);
            }
            table[blockCount++] = b;
        }
        return true;
    }

    /**
     * Stores the K and V of the token at {@code position} (at least {@link #length}, inside the
     * reserved blocks) for one layer: {@code kvHeads x headDim} floats from each source offset.
     */
    public void write(int layer, int position, float[] k, int ko, float[] v, int vo) {
        if (position < length || position >= blockCount * pool.shape().blockSize()) {
            throw new IllegalArgumentException("position " + position + " is outside the reserved room [" + length
                    + ", " + blockCount * pool.shape().blockSize() + ")");
        }
        int bs = pool.shape().blockSize();
        int o = pool.offset(table[position / bs], position % bs);
        int w = pool.shape().tokenWidth();
        System.arraycopy(k, ko, pool.keys(layer), o, w);
        System.arraycopy(v, vo, pool.values(layer), o, w);
    }

    /** Counts {@code tokens} appended tokens as cached (every layer written). */
    public void advance(int tokens) {
        if (tokens < 0 || length + tokens > blockCount * pool.shape().blockSize()) {
            throw new IllegalArgumentException("cannot advance " + tokens + " tokens past the reserved room");
        }
        length += tokens;
    }

    /**
     * Starts an empty sequence with the published blocks that hold the first tokens of {@code
     * tokens} (whole blocks, at most {@code maxTokens} tokens), shared with the sequences that
     * computed them; returns how many tokens are cached now.
     */
    public int adoptPrefix(int[] tokens, int maxTokens) {
        if (length != 0 || blockCount != 0) {
            throw new IllegalStateException("a prefix is adopted by an empty sequence only");
        }
        int bs = pool.shape().blockSize();
        int parent = -1;
        synchronized (pool) { // a block found is retained before anyone can free it
            while ((blockCount + 1) * bs <= Math.min(maxTokens, tokens.length)) {
                int b = pool.lookup(parent, tokens, blockCount * bs);
                if (b < 0) {
                    break;
                }
                pool.retain(b);
                if (blockCount == table.length) {
                    table = Arrays.copyOf(table, table.length * 2);
                }
                table[blockCount++] = b;
                parent = b;
            }
        }
        length = blockCount * bs;
        published = blockCount;
        return length;
    }

    /**
     * Publishes the full blocks cached since the last call, {@code tokens} being the sequence's
     * tokens (at least {@link #length} of them), so that sequences starting the same way share them.
     */
    public void publish(int[] tokens) {
        int bs = pool.shape().blockSize();
        for (; published < length / bs; published++) {
            pool.publish(published == 0 ? -1 : table[published - 1], tokens, published * bs, table[published]);
        }
    }

    /** Gives every block back to the pool; the sequence is empty afterwards. */
    public void release() {
        synchronized (pool) { // a parent and its children leave the published index together
            for (int i = 0; i < blockCount; i++) {
                pool.release(table[i]);
            }
        }
        blockCount = 0;
        length = 0;
        published = 0;
    }
}

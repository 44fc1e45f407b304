package dev.attune.kernels.kv;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Deque;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;

/**
 * A pool of fixed-size KV blocks in the JVM heap, fp32, for every layer: the paged cache the
 * decoder's sequences share (vLLM's block manager, Jlama's KV buffer cache: outside the model).
 * Layer {@code l}'s keys are one array of shape (blocks, blockSize, kvHeads, headDim), values the
 * same; a token's K and V live at {@link #offset} of its block and slot. Sequences hold blocks
 * through a {@link KvSequence} and give them back when they finish or are preempted.
 *
 * <p>Prefix sharing: a full block whose K and V every layer has written can be published under
 * the tokens it holds and the block before it ({@link #publish}); a sequence whose prompt starts
 * with the same tokens then takes the block instead of computing it again ({@link #lookup},
 * {@link #retain}). K and V of a position depend only on the tokens up to it, so a shared block
 * holds what the sequence would have computed (bit for bit: the CPU products do not depend on the
 * batch). Blocks are counted by reference. A published block the last holder gives back stays
 * cached, findable, until its room is needed: {@link #allocate} takes never-published free
 * blocks first, then evicts the cached block given back longest ago, with the blocks published
 * after it (a block is found only after its parent, so they could not be found any more). Only
 * full blocks are shared, and sequences write only past their shared blocks, so a shared block is
 * never written again.
 *
 * <p>Lifecycle: made once per runner for a budget the memory planner computes; lives as long as
 * its sequences. Threading: {@link #allocate} and {@link #release} are synchronized and may be
 * called from any thread; the contents of a block are written only by the sequence that holds it
 * and read by attention kernels while no one writes it. Failure: {@link #allocate} returns -1 when
 * no block is free (the caller preempts or waits); it never throws for exhaustion.
 */
public final class KvBlockPool {

    private final KvShape shape;
    private final int blocks;
    private final float[][] keys;
    private final float[][] values;
    private final Deque<Integer> free = new ArrayDeque<>();
    private final int[] refs;
    private final boolean sharing;
    /** Published blocks by (block before, tokens), and each published block's key. */
    private final Map<PrefixKey, Integer> published = new HashMap<>();

    private final PrefixKey[] keyOf;
    /** Published blocks nobody holds, given back longest ago first: free, but still findable. */
    private final LinkedHashSet<Integer> cached = new LinkedHashSet<>();
    /** The published blocks whose parent is a block, by parent. */
    private final Map<Integer, List<Integer>> children = new HashMap<>();

    /** A block's identity for sharing: the block before it in its sequence (-1 for the first) and its tokens. */
    private record PrefixKey(int parent, int[] tokens) {
        @Override
        public boolean equals(Object o) {
            return o instanceof PrefixKey k && k.parent == parent && Arrays.equals(k.tokens, tokens);
        }

        @Override
        public int hashCode() {
            return 31 * parent + Arrays.hashCode(tokens);
        }
    }

    /** A pool that shares published prompt prefixes between sequences. */
    public KvBlockPool(KvShape shape, int blocks) {
        this(shape, blocks, true);
    }

    /** A pool of {@code blocks} blocks; with {@code sharing} false, {@link #lookup} never finds one. */
    public KvBlockPool(KvShape shape, int blocks, boolean sharing) {
        long floats = (long) blocks * shape.blockSize() * shape.tokenWidth();
        if (blocks < 1 || floats > Integer.MAX_VALUE - 16) {
            throw new IllegalArgumentException("a KV pool of " + blocks + " blocks of " + shape
                    + " does not fit one array per layer (" + floats + " floats)");
        }
        this.shape = shape;
        this.blocks = blocks;
        this.keys = new float[shape.layers()][(int) floats];
        this.values = new float[shape.layers()][(int) floats];
        this.refs = new int[blocks];
        this.keyOf = new PrefixKey[blocks];
        this.sharing = sharing;
        for (int b = 0; b < blocks; b++) {
            free.addLast(b);
        }
    }

    public KvShape shape() {
        return shape;
    }

    /** Blocks in the pool. */
    public int capacity() {
        return blocks;
    }

    /** Blocks no sequence holds: free, and cached ones that can be evicted. */
    public synchronized int freeBlocks() {
        return free.size() + cached.size();
    }

    /**
     * A block no one holds: a free one (lowest-numbered first among those never used or given back
     * first), else the cached block given back longest ago, evicted; -1 when every block is held.
     */
    public synchronized int allocate() {
        Integer b = free.pollFirst();
        if (b == null) {
            if (cached.isEmpty()) {
                return -1;
            }
            b = cached.iterator().next();
            unpublish(b);
            free.remove(b);
        }
        refs[b] = 1;
        return b;
    }

    /**
     * Forgets a cached block and, since they can only be found after it, the blocks published
     * after it; each goes to the free list (a held one cannot follow a block nobody holds).
     */
    private void unpublish(int b) {
        published.remove(keyOf[b]);
        int parent = keyOf[b].parent();
        if (parent >= 0) {
            List<Integer> siblings = children.get(parent);
            if (siblings != null) {
                siblings.remove((Integer) b);
                if (siblings.isEmpty()) {
                    children.remove(parent);
                }
            }
        }
        keyOf[b] = null;
        cached.remove(b);
        free.addLast(b);
        List<Integer> kids = children.remove(b);
        if (kids != null) {
            for (int c : new ArrayList<>(kids)) {
                if (keyOf[c] != null) {
                    if (refs[c] != 0) {
                        throw new IllegalStateException(
                                "KV block " + c + " is held after its parent " + b + " was freed");
                    }
                    unpublish(c);
                }
            }
        }
    }

    /**
     * Gives a block back: one holder fewer; the last holder's release frees it and forgets its
     * published entry. A block not held is a bug in the caller and is refused.
     */
    public synchronized void release(int block) {
        if (block < 0 || block >= blocks || refs[block] == 0) {
            throw new IllegalStateException("KV block " + block + " is not held");
        }
        if (--refs[block] == 0) {
            if (keyOf[block] != null) {
                cached.add(block); // findable until its room is needed
            } else {
                free.addLast(block);
            }
        }
    }

    /** One more holder of a held or cached block (a sequence that shares it). */
    public synchronized void retain(int block) {
        if (block < 0 || block >= blocks || (refs[block] == 0 && !cached.contains(block))) {
            throw new IllegalStateException("KV block " + block + " is neither held nor cached");
        }
        cached.remove(block);
        refs[block]++;
    }

    /** Holders of a block (0 when free). */
    public synchronized int holders(int block) {
        return refs[block];
    }

    /**
     * Makes a full, written block findable by the sequences whose tokens after {@code parent}
     * (-1: at the start) are {@code tokens[from, from + blockSize)}. A block already published,
     * or the same tokens already under another block, are left as they are.
     */
    public synchronized void publish(int parent, int[] tokens, int from, int block) {
        if (!sharing || keyOf[block] != null || refs[block] == 0) {
            return;
        }
        PrefixKey k = new PrefixKey(parent, Arrays.copyOfRange(tokens, from, from + shape.blockSize()));
        if (published.putIfAbsent(k, block) == null) {
            keyOf[block] = k;
            if (parent >= 0) {
                children.computeIfAbsent(parent, x -> new ArrayList<>()).add(block);
            }
        }
    }

    /**
     * The published block holding {@code tokens[from, from + blockSize)} after {@code parent}, or
     * -1. The caller {@link #retain}s it before any other call on the pool can free it (hold the
     * pool's lock: {@code synchronized (pool)}).
     */
    public synchronized int lookup(int parent, int[] tokens, int from) {
        if (!sharing || published.isEmpty()) {
            return -1;
        }
        Integer b = published.get(new PrefixKey(parent, Arrays.copyOfRange(tokens, from, from + shape.blockSize())));
        return b == null ? -1 : b;
    }

    /** Layer {@code layer}'s keys, (blocks, blockSize, kvHeads, headDim). */
    public float[] keys(int layer) {
        return keys[layer];
    }

    /** Layer {@code layer}'s values, (blocks, blockSize, kvHeads, headDim). */
    public float[] values(int layer) {
        return values[layer];
    }

    /** Offset of token slot {@code slot} of block {@code block} in {@link #keys} and {@link #values}. */
    public int offset(int block, int slot) {
        return (block * shape.blockSize() + slot) * shape.tokenWidth();
    }
}

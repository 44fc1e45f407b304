package dev.attune.kernels.kv;

import java.util.ArrayDeque;
import java.util.Deque;

/**
 * A pool of fixed-size KV blocks in the JVM heap, fp32, for every layer: the paged cache the
 * decoder's sequences share (vLLM's block manager, Jlama's KV buffer cache: outside the model).
 * Layer {@code l}'s keys are one array of shape (blocks, blockSize, kvHeads, headDim), values the
 * same; a token's K and V live at {@link #offset} of its block and slot. Sequences hold blocks
 * through a {@link KvSequence} and give them back when they finish or are preempted.
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
    private final boolean[] held;

    public KvBlockPool(KvShape shape, int blocks) {
        long floats = (long) blocks * shape.blockSize() * shape.tokenWidth();
        if (blocks < 1 || floats > Integer.MAX_VALUE - 16) {
            throw new IllegalArgumentException("a KV pool of " + blocks + " blocks of " + shape
                    + " does not fit one array per layer (" + floats + " floats)");
        }
        this.shape = shape;
        this.blocks = blocks;
        this.keys = new float[shape.layers()][(int) floats];
        this.values = new float[shape.layers()][(int) floats];
        this.held = new boolean[blocks];
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

    public synchronized int freeBlocks() {
        return free.size();
    }

    /** A free block, lowest-numbered first among those never used or given back first; -1 when none is free. */
    public synchronized int allocate() {
        Integer b = free.pollFirst();
        if (b == null) {
            return -1;
        }
        held[b] = true;
        return b;
    }

    /** Gives a block back. A block not held is a bug in the caller and is refused. */
    public synchronized void release(int block) {
        if (block < 0 || block >= blocks || !held[block]) {
            throw new IllegalStateException("KV block " + block + " is not held");
        }
        held[block] = false;
        free.addLast(block);
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

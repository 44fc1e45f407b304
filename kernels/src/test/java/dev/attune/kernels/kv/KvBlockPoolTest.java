package dev.attune.kernels.kv;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.attune.kernels.select.ComputeDtype;
import org.junit.jupiter.api.Test;

/**
 * The paged KV cache's bookkeeping: bytes per token as the planner counts them, blocks for a
 * budget, a sequence taking blocks as it grows and giving all back, exhaustion reported (not
 * thrown) with what was taken kept, writes outside the reserved room and double releases refused;
 * full blocks of a common prefix shared, cached after their last holder and evicted when needed.
 */
class KvBlockPoolTest {

    @Test
    void bytesPerTokenAndBlocksForABudget() {
        // TinyLlama-1.1B: 22 layers, 4 K/V heads of 64: 2 * 22 * 4 * 64 * 2 bytes = 22,528 bytes per token in fp16.
        KvShape tiny = new KvShape(22, 4, 64, 16);
        assertEquals(22_528, tiny.bytesPerToken(ComputeDtype.FP16));
        assertEquals(45_056, tiny.bytesPerToken(ComputeDtype.FP32));
        assertEquals(16 * 22_528L, tiny.bytesPerBlock(ComputeDtype.FP16));
        assertEquals(2, tiny.blocksFor(3 * 16 * 22_528L - 1, ComputeDtype.FP16));
        assertEquals(0, tiny.blocksFor(-5, ComputeDtype.FP16));
        assertEquals(0, tiny.blocksOf(0));
        assertEquals(1, tiny.blocksOf(16));
        assertEquals(2, tiny.blocksOf(17));
        assertThrows(IllegalArgumentException.class, () -> new KvShape(1, 0, 64, 16));
    }

    @Test
    void sequencesTakeBlocksAsTheyGrowAndGiveThemBack() {
        KvShape shape = new KvShape(2, 1, 2, 4);
        KvBlockPool pool = new KvBlockPool(shape, 3);
        KvSequence a = new KvSequence(pool);
        KvSequence b = new KvSequence(pool);
        assertTrue(a.reserve(5)); // two blocks
        assertEquals(2, a.blocks());
        assertEquals(1, pool.freeBlocks());
        assertTrue(b.reserve(4));
        assertEquals(0, pool.freeBlocks());
        assertFalse(b.reserve(5), "a second block: the pool is exhausted");
        assertEquals(1, b.blocks(), "what b had is kept");
        assertEquals(-1, pool.allocate());
        // Writes land in the sequence's own block and slot, for each layer.
        for (int pos = 0; pos < 5; pos++) {
            for (int layer = 0; layer < 2; layer++) {
                float[] k = {pos, layer};
                float[] v = {-pos, -layer};
                a.write(layer, pos, k, 0, v, 0);
            }
        }
        a.advance(5);
        int block = a.blockOf(4);
        int o = pool.offset(block, 0);
        assertArrayEquals(new float[] {4, 1}, java.util.Arrays.copyOfRange(pool.keys(1), o, o + 2));
        assertArrayEquals(new float[] {-4, -1}, java.util.Arrays.copyOfRange(pool.values(1), o, o + 2));
        assertThrows(
                IllegalArgumentException.class,
                () -> a.write(0, 3, new float[2], 0, new float[2], 0),
                "already cached");
        assertThrows(
                IllegalArgumentException.class, () -> a.write(0, 8, new float[2], 0, new float[2], 0), "not reserved");
        assertThrows(IllegalArgumentException.class, () -> a.advance(4), "past the reserved room");
        a.release();
        assertEquals(0, a.length());
        assertEquals(2, pool.freeBlocks());
        a.release(); // twice is harmless
        assertTrue(b.reserve(5), "the freed blocks serve b now");
        assertEquals(2, b.blocks());
        int spare = pool.allocate();
        pool.release(spare);
        assertThrows(IllegalStateException.class, () -> pool.release(spare), "a block released twice");
        assertThrows(IllegalStateException.class, () -> pool.release(3), "a block outside the pool");
    }

    /** Caches {@code tokens.length} tokens in a new sequence (K = V = the token id) and publishes its blocks. */
    private static KvSequence computed(KvBlockPool pool, int[] tokens) {
        KvSequence s = new KvSequence(pool);
        assertTrue(s.reserve(tokens.length));
        for (int p = 0; p < tokens.length; p++) {
            float[] kv = {tokens[p], tokens[p]};
            for (int l = 0; l < pool.shape().layers(); l++) {
                s.write(l, p, kv, 0, kv, 0);
            }
        }
        s.advance(tokens.length);
        s.publish(tokens);
        return s;
    }

    @Test
    void fullBlocksOfACommonPrefixAreSharedCachedAndEvictedWhenNeeded() {
        KvShape shape = new KvShape(2, 1, 2, 4);
        KvBlockPool pool = new KvBlockPool(shape, 8);
        int[] a = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
        KvSequence first = computed(pool, a); // blocks: [1-4] [5-8] and a partial [9, 10]
        int[] table = first.blockTable();
        assertEquals(5, pool.freeBlocks());

        // Same first 8 tokens, then others: both full blocks are taken, not computed.
        KvSequence second = new KvSequence(pool);
        assertEquals(8, second.adoptPrefix(new int[] {1, 2, 3, 4, 5, 6, 7, 8, 42, 43, 44}, 10));
        assertArrayEquals(new int[] {table[0], table[1]}, second.blockTable());
        assertEquals(2, pool.holders(table[0]));
        assertEquals(5, pool.freeBlocks(), "sharing takes no block");
        assertThrows(IllegalArgumentException.class, () -> second.write(0, 7, new float[2], 0, new float[2], 0));
        // The partial block is not shared; nor is a block after one that differs; maxTokens bounds it.
        assertEquals(0, new KvSequence(pool).adoptPrefix(new int[] {1, 2, 3, 9, 5, 6, 7, 8}, 8));
        KvSequence third = new KvSequence(pool);
        assertEquals(4, third.adoptPrefix(a, 7));
        third.release();
        assertEquals(
                0,
                new KvSequence(pool).adoptPrefix(new int[] {5, 6, 7, 8, 1, 2}, 6),
                "a block is found after its parent only");

        // The first holder leaves: the shared blocks stay for the second, and stay findable.
        first.release();
        assertEquals(1, pool.holders(table[0]));
        assertEquals(6, pool.freeBlocks());
        KvSequence fourth = new KvSequence(pool);
        assertEquals(8, fourth.adoptPrefix(a, 9));
        fourth.release();
        // The last holder leaves: the blocks are free to take, and cached (still found) until taken.
        second.release();
        assertEquals(8, pool.freeBlocks());
        KvSequence later = new KvSequence(pool);
        assertEquals(8, later.adoptPrefix(a, 9));
        assertEquals(6, pool.freeBlocks());
        later.release();
        // Room needed: never-published blocks go first, then the cached ones (oldest first) with
        // the blocks published after them.
        KvSequence big = new KvSequence(pool);
        assertTrue(big.reserve(6 * 4));
        KvSequence still = new KvSequence(pool);
        assertEquals(8, still.adoptPrefix(a, 9), "six free blocks were enough");
        still.release();
        assertTrue(big.reserve(7 * 4));
        assertEquals(
                0, new KvSequence(pool).adoptPrefix(a, 9), "the first cached block was evicted, its child with it");
        assertEquals(1, pool.freeBlocks());
        big.release();
        assertEquals(8, pool.freeBlocks());

        KvBlockPool off = new KvBlockPool(shape, 8, false);
        KvSequence kept = computed(off, a);
        assertEquals(0, new KvSequence(off).adoptPrefix(a, 9), "a pool without sharing finds nothing");
        kept.release();
    }

    @Test
    void aPoolTooBigForOneArrayPerLayerIsRefused() {
        IllegalArgumentException e = assertThrows(
                IllegalArgumentException.class, () -> new KvBlockPool(new KvShape(1, 8, 128, 16), 1 << 20));
        assertTrue(e.getMessage().contains("does not fit one array per layer"), e.getMessage());
    }
}

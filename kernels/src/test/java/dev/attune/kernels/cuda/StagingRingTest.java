package dev.attune.kernels.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * The staging ring's hazard rule, with fences standing in for CUDA events: the host never gets a
 * region that a copy not yet waited for still uses; it waits for the oldest copies only as far as
 * the new region needs, so an upload in chunks of half the buffer keeps one chunk in flight while
 * the next is filled; a synchronized stream frees everything without waiting.
 */
class StagingRingTest {

    private static final int MIB = 1 << 20;

    /** Fence numbers waited for and given back, in order. */
    private final List<Integer> awaited = new ArrayList<>();

    private final List<Integer> givenBack = new ArrayList<>();

    private StagingRing<Integer> ring(int capacity) {
        StagingRing<Integer> r = new StagingRing<>(awaited::add, givenBack::add);
        r.resize(capacity);
        return r;
    }

    @Test
    void chunksOfHalfTheBufferAlternateWaitingOnlyForTheCopyTwoBack() {
        StagingRing<Integer> r = ring(32 * MIB);
        assertEquals(0, r.claim(16 * MIB));
        r.fence(1);
        assertEquals(16 * MIB, r.claim(16 * MIB));
        r.fence(2);
        assertEquals(List.of(), awaited, "the second chunk is filled while the first copies");
        assertEquals(0, r.claim(16 * MIB));
        r.fence(3);
        assertEquals(List.of(1), awaited, "the third chunk waits for the first copy only");
        assertEquals(16 * MIB, r.claim(16 * MIB));
        assertEquals(List.of(1, 2), awaited);
        assertEquals(2, r.pending());
    }

    @Test
    void aSynchronizedStreamFreesEveryRegionWithoutWaiting() {
        StagingRing<Integer> r = ring(4 * MIB);
        r.claim(MIB);
        r.fence(1);
        r.claim(2 * MIB);
        r.fence(2);
        r.reset();
        assertEquals(0, r.pending());
        assertEquals(List.of(), awaited);
        assertEquals(Set.of(1, 2), new HashSet<>(givenBack));
        assertEquals(0, r.claim(4 * MIB), "the whole buffer is free again");
        assertEquals(List.of(), awaited);
    }

    @Test
    void aRegionWhoseCopyWasNeverIssuedIsFreeWithoutAWait() {
        StagingRing<Integer> r = ring(2 * MIB);
        assertEquals(0, r.claim(2 * MIB)); // the enqueue failed: no fence
        assertEquals(0, r.claim(2 * MIB));
        assertEquals(List.of(), awaited);
    }

    @Test
    void claimsBeyondTheCapacityAndStrayFencesAreRefused() {
        StagingRing<Integer> r = ring(MIB);
        assertThrows(IllegalArgumentException.class, () -> r.claim(MIB + 1));
        assertThrows(IllegalArgumentException.class, () -> r.claim(-1));
        assertThrows(IllegalStateException.class, () -> r.fence(7));
        r.claim(10);
        r.fence(1);
        assertThrows(IllegalStateException.class, () -> r.fence(2), "one fence per region");
        assertThrows(IllegalStateException.class, () -> r.resize(2 * MIB), "resize only when idle");
    }

    /**
     * Random claims of every size: each region handed out overlaps no region whose fence has not
     * been waited for (nor one claimed and not yet fenced), and each fence is waited for at most
     * once and given back once.
     */
    @Test
    void noRegionIsHandedOutWhileACopyStillUsesIt() {
        Random rnd = new Random(11);
        for (int capacity : new int[] {4096, 1 << 16, 3 * 1000 + 7}) {
            awaited.clear();
            givenBack.clear();
            StagingRing<Integer> r = ring(capacity);
            // live[f] = {start, end} of the region fenced by f, until f is waited for or reset
            List<int[]> live = new ArrayList<>();
            List<Integer> liveFence = new ArrayList<>();
            int nextFence = 0;
            for (int step = 0; step < 20_000; step++) {
                if (rnd.nextInt(50) == 0) {
                    r.reset();
                    live.clear();
                    liveFence.clear();
                    continue;
                }
                int bytes = rnd.nextInt(4) == 0 ? rnd.nextInt(capacity + 1) : rnd.nextInt(capacity / 8 + 1);
                int waitedBefore = awaited.size();
                int at = r.claim(bytes);
                for (int w = waitedBefore; w < awaited.size(); w++) {
                    int idx = liveFence.indexOf(awaited.get(w));
                    assertTrue(idx >= 0, "fence " + awaited.get(w) + " waited for twice or never issued");
                    live.remove(idx);
                    liveFence.remove(idx);
                }
                assertTrue(at >= 0 && at + bytes <= capacity, "region in the buffer");
                for (int[] l : live) {
                    assertTrue(
                            at + bytes <= l[0] || l[1] <= at || bytes == 0 || l[0] == l[1],
                            "step " + step + ": [" + at + ", " + (at + bytes) + ") overlaps a copy in flight [" + l[0]
                                    + ", " + l[1] + ")");
                }
                r.fence(nextFence);
                live.add(new int[] {at, at + bytes});
                liveFence.add(nextFence);
                nextFence++;
            }
            assertEquals(
                    new HashSet<>(givenBack).size(), givenBack.size(), "a fence given back twice (" + capacity + ")");
        }
    }
}

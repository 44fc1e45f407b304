package dev.attune.kernels.cuda;

import java.util.ArrayDeque;
import java.util.function.Consumer;

/**
 * Hands out regions of a stream's pinned staging buffer front to back, around the buffer like a
 * ring, so the host can fill the next region while the device still copies out of the previous
 * ones: an upload in chunks of at most half the buffer converts chunk {@code k + 1} on the host
 * while chunk {@code k} is in flight (double buffering), instead of waiting for each copy.
 *
 * <p>Hazard it guards: a region may be written by the host only after the copy that reads it has
 * run (and, for downloads, read only after the copy that fills it has). Each region handed out is
 * pending until its fence (an event recorded on the stream right after the copy) has been waited
 * for. {@link #claim} waits, oldest first, for just the pending regions that overlap the one it
 * hands out; all the stream's later work (kernels, other copies) goes on meanwhile. A region whose
 * copy was never issued (the enqueue failed) has no fence and is free again at once.
 *
 * <p>Threading: confined to its stream's session, as the stream is. No JCuda: fences are opaque,
 * waited for and given back by the functions the stream supplies.
 *
 * @param <F> the fence type (a CUDA event)
 */
final class StagingRing<F> {

    static final int ALIGN = 256;

    private record Region<F>(int start, int end, F fence) {}

    private final Consumer<F> await;
    private final Consumer<F> giveBack;
    /** Regions handed out and not yet known free, oldest first. */
    private final ArrayDeque<Region<F>> pending = new ArrayDeque<>();

    private int capacity;
    private int head;

    /**
     * @param await    blocks until the work before the fence has run on the device
     * @param giveBack takes a fence no region needs any more (for reuse)
     */
    StagingRing(Consumer<F> await, Consumer<F> giveBack) {
        this.await = await;
        this.giveBack = giveBack;
    }

    /** Bytes of the buffer the ring hands out regions of. */
    int capacity() {
        return capacity;
    }

    /** Regions handed out whose fence has not been waited for yet. */
    int pending() {
        return pending.size();
    }

    /**
     * A region of {@code bytes} that no pending copy uses, waiting for the oldest pending copies
     * until it is free; its byte offset. The caller then issues its copy and {@link #fence}s it.
     *
     * @throws IllegalArgumentException when {@code bytes} is negative or more than the capacity
     */
    int claim(int bytes) {
        if (bytes < 0 || bytes > capacity) {
            throw new IllegalArgumentException("a staging ring of " + capacity + " bytes cannot hold " + bytes);
        }
        int start = head + bytes <= capacity ? head : 0;
        int end = start + bytes;
        // Regions are handed out in ring order, so the pending ones fill one arc, from the oldest's
        // start to the head; waiting for the oldest shrinks it from behind until the new region
        // lies outside it.
        while (!pending.isEmpty() && !outsidePending(start, end)) {
            Region<F> r = pending.poll();
            if (r.fence() != null) {
                await.accept(r.fence());
                giveBack.accept(r.fence());
            }
        }
        pending.add(new Region<>(start, end, null));
        head = Math.min(capacity, (end + ALIGN - 1) / ALIGN * ALIGN);
        return start;
    }

    /** Attaches the fence of the copy just issued from or into the region {@link #claim} last gave. */
    void fence(F fence) {
        Region<F> last = pending.peekLast();
        if (last == null || last.fence() != null) {
            throw new IllegalStateException("no claimed region is waiting for its fence");
        }
        pending.pollLast();
        pending.add(new Region<>(last.start(), last.end(), fence));
    }

    /**
     * Every region is free: the stream was synchronized, so every copy has run. Fences are given
     * back without waiting.
     */
    void reset() {
        for (Region<F> r : pending) {
            if (r.fence() != null) {
                giveBack.accept(r.fence());
            }
        }
        pending.clear();
        head = 0;
    }

    /** A new buffer of {@code bytes} (0: none); only after {@link #reset}, with nothing pending. */
    void resize(int bytes) {
        if (!pending.isEmpty()) {
            throw new IllegalStateException("resize with " + pending.size() + " regions pending");
        }
        capacity = bytes;
        head = 0;
    }

    /** Whether {@code [start, end)} lies in the free arc, from the head round to the oldest pending region. */
    private boolean outsidePending(int start, int end) {
        int tail = pending.peek().start();
        if (tail < head) {
            // pending: [tail, head); free: [head, capacity) and [0, tail)
            return start >= head || end <= tail;
        }
        // pending wraps: [tail, capacity) and [0, head); free: [head, tail)
        return start >= head && end <= tail;
    }
}

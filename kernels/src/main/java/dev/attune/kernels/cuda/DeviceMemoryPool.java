package dev.attune.kernels.cuda;

import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.Map;

/**
 * A caching allocator of device memory. Requests are rounded up to a size class and blocks are
 * kept, when released, for the next request of the same class, so the batches of a job reuse the
 * same memory instead of asking the driver (whose {@code cuMemAlloc}/{@code cuMemFree} synchronize
 * the device) again and again.
 *
 * <p>Size classes: 1 KiB and below round to 1 KiB; above, each power-of-two octave
 * {@code (2^e, 2^(e+1)]} has four classes, {@code 2^e · (1.25, 1.5, 1.75, 2)}, so at most a fifth
 * of a block is unused and a handful of classes covers the shapes of a job.
 *
 * <p>Out of memory: when the allocator refuses a request, the pool {@linkplain #trim frees every
 * cached block} and asks once more if that (or a trim running concurrently) gave memory back; the
 * second refusal, or the first when nothing was cached, reaches the caller.
 *
 * <p>Hazards: a released block may be handed to another stream at once, so callers release only
 * blocks no pending work uses (a session releases after synchronizing its stream).
 *
 * <p>Threading: thread-safe. The monitor guards only the idle lists and the counters; the
 * allocator is always called <em>without</em> it, because {@code cuMemFree} (and {@code cuMemAlloc}
 * when it must reclaim memory) waits for the device, and a lock held across it would make every
 * thread's acquire of a cached block, and every release, wait for another thread's in-flight
 * kernels. So: a new block is accounted once the allocator returns it; {@link #trim} detaches the
 * idle lists under the lock (the blocks are then no longer cached and cannot be handed out) and
 * frees them after letting go. No JCuda.
 *
 * @param <B> the allocator's block handle
 */
public final class DeviceMemoryPool<B> {

    /** One block handed out: the allocator's handle and the size-class bytes it spans. */
    public record Block<B>(B handle, long bytes) {}

    static final long MIN_CLASS = 1024;

    private final DeviceAllocator<B> allocator;
    // All fields below are guarded by this.
    private final Map<Long, ArrayDeque<B>> idle = new HashMap<>();
    private long cachedBytes;
    private long liveBytes;
    private long allocations;
    /** Bytes detached by trims whose frees have not all returned yet. */
    private long freeingBytes;
    /** Bytes every trim so far has finished freeing (monotonic: tells a refused request whether memory came back). */
    private long freedTotal;

    public DeviceMemoryPool(DeviceAllocator<B> allocator) {
        this.allocator = allocator;
    }

    /** The size class a request of {@code bytes} is served from. */
    public static long sizeClass(long bytes) {
        if (bytes < 0) {
            throw new IllegalArgumentException("cannot allocate " + bytes + " bytes");
        }
        if (bytes <= MIN_CLASS) {
            return MIN_CLASS;
        }
        int e = 63 - Long.numberOfLeadingZeros(bytes - 1); // 2^e < bytes <= 2^(e+1)
        long step = 1L << (e - 2);
        return Math.addExact(bytes, step - 1) / step * step;
    }

    /**
     * A block of at least {@code bytes} bytes, cached or new. A cached block is taken under the
     * lock alone; a new one is asked of the allocator with the lock released, so concurrent
     * acquires and releases go on meanwhile.
     *
     * @throws GpuOutOfMemoryException when the allocator refuses the request, and again after the
     *     cache was freed (or there was nothing to free); the pool is unchanged then
     */
    public Block<B> acquire(long bytes) {
        long cls = sizeClass(bytes);
        long freedBefore;
        synchronized (this) {
            ArrayDeque<B> list = idle.get(cls);
            if (list != null && !list.isEmpty()) {
                cachedBytes -= cls;
                liveBytes += cls;
                return new Block<>(list.pop(), cls);
            }
            freedBefore = freedTotal;
        }
        B handle;
        try {
            handle = allocator.allocate(cls);
        } catch (GpuOutOfMemoryException first) {
            // trim() returns only after every trim in flight has finished its frees, so comparing
            // freedTotal also counts memory another thread's trim gave back while we were refused.
            trim();
            synchronized (this) {
                if (freedTotal == freedBefore) {
                    throw first;
                }
            }
            handle = allocator.allocate(cls);
        }
        synchronized (this) {
            allocations++;
            liveBytes += cls;
        }
        return new Block<>(handle, cls);
    }

    /** Returns a block for reuse; it must come from {@link #acquire} of this pool and be idle. */
    public synchronized void release(Block<B> block) {
        if (block.bytes() != sizeClass(block.bytes())) {
            throw new IllegalArgumentException("block of " + block.bytes() + " bytes did not come from this pool");
        }
        idle.computeIfAbsent(block.bytes(), k -> new ArrayDeque<>()).push(block.handle());
        liveBytes -= block.bytes();
        cachedBytes += block.bytes();
    }

    /**
     * Frees a block from {@link #acquire} instead of caching it: for a block whose last use is not
     * known to have finished (its stream could not be synchronized), which must not be handed to
     * another stream. The allocator's free waits for the device before freeing ({@code cuMemFree}
     * does). Called without the lock, as every allocator call.
     */
    public void discard(Block<B> block) {
        synchronized (this) {
            liveBytes -= block.bytes();
        }
        allocator.free(block.handle());
    }

    /**
     * Frees every cached block. The blocks leave the cache at once (under the lock) and are given
     * to the allocator after it is released. Returns after they are freed and after every trim
     * that other threads had in flight has finished too, so that memory cached when this was called
     * is back on the device when it returns.
     *
     * <p>Failure: a refused free does not stop the others (the block is dropped either way); the
     * first refusal is thrown after the rest are freed.
     *
     * @return bytes this call gave back to the device
     */
    public long trim() {
        Map<Long, ArrayDeque<B>> detached;
        long detachedBytes;
        synchronized (this) {
            detached = new HashMap<>(idle);
            idle.clear();
            detachedBytes = cachedBytes;
            cachedBytes = 0;
            freeingBytes += detachedBytes;
        }
        RuntimeException failure = null;
        try {
            for (Map.Entry<Long, ArrayDeque<B>> e : detached.entrySet()) {
                for (B b : e.getValue()) {
                    try {
                        allocator.free(b);
                    } catch (RuntimeException ex) {
                        // keep freeing the rest; the block is dropped either way
                        if (failure == null) {
                            failure = ex;
                        }
                    }
                }
            }
        } finally {
            finishTrim(detachedBytes);
        }
        if (failure != null) {
            throw failure;
        }
        return detachedBytes;
    }

    /** Accounts this trim's frees as done, then waits for other trims still freeing. */
    private synchronized void finishTrim(long detachedBytes) {
        freeingBytes -= detachedBytes;
        freedTotal += detachedBytes;
        notifyAll();
        boolean interrupted = false;
        // Frees always return (a refusal is an exception), so this wait is bounded; it is not
        // interruptible, as the caller relies on the memory being back once trim returns.
        while (freeingBytes > 0) {
            try {
                wait();
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }

    /** Bytes held in cached, idle blocks (not those a trim is freeing). */
    public synchronized long cachedBytes() {
        return cachedBytes;
    }

    /** Bytes in blocks handed out and not yet released. */
    public synchronized long liveBytes() {
        return liveBytes;
    }

    /** How many blocks the pool has asked the allocator for, and got, since it was made. */
    public synchronized long allocations() {
        return allocations;
    }
}

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
 * <p>Out of memory: when the allocator refuses a request while blocks are cached, the pool frees
 * every cached block and asks once more; the second refusal reaches the caller.
 *
 * <p>Hazards: a released block may be handed to another stream at once, so callers release only
 * blocks no pending work uses (a session releases after synchronizing its stream).
 *
 * <p>Threading: thread-safe; one lock around the lists and the allocator calls. No JCuda.
 *
 * @param <B> the allocator's block handle
 */
public final class DeviceMemoryPool<B> {

    /** One block handed out: the allocator's handle and the size-class bytes it spans. */
    public record Block<B>(B handle, long bytes) {}

    static final long MIN_CLASS = 1024;

    private final DeviceAllocator<B> allocator;
    private final Map<Long, ArrayDeque<B>> idle = new HashMap<>();
    private long cachedBytes;
    private long liveBytes;
    private long allocations;

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

    /** A block of at least {@code bytes} bytes, cached or new. */
    public synchronized Block<B> acquire(long bytes) {
        long cls = sizeClass(bytes);
        ArrayDeque<B> list = idle.get(cls);
        if (list != null && !list.isEmpty()) {
            cachedBytes -= cls;
            liveBytes += cls;
            return new Block<>(list.pop(), cls);
        }
        B handle;
        try {
            handle = allocator.allocate(cls);
        } catch (GpuOutOfMemoryException first) {
            if (cachedBytes == 0) {
                throw first;
            }
            trim();
            handle = allocator.allocate(cls);
        }
        allocations++;
        liveBytes += cls;
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
     * Frees every cached block.
     *
     * @return bytes given back to the device
     */
    public synchronized long trim() {
        long freed = 0;
        RuntimeException failure = null;
        for (Map.Entry<Long, ArrayDeque<B>> e : idle.entrySet()) {
            ArrayDeque<B> list = e.getValue();
            while (!list.isEmpty()) {
                B b = list.pop();
                try {
                    allocator.free(b);
                } catch (RuntimeException ex) {
                    // keep freeing the rest; the block is dropped either way
                    if (failure == null) {
                        failure = ex;
                    }
                }
                freed += e.getKey();
            }
        }
        idle.clear();
        cachedBytes = 0;
        if (failure != null) {
            throw failure;
        }
        return freed;
    }

    /** Bytes held in cached, idle blocks. */
    public synchronized long cachedBytes() {
        return cachedBytes;
    }

    /** Bytes in blocks handed out and not yet released. */
    public synchronized long liveBytes() {
        return liveBytes;
    }

    /** How many blocks the pool has asked the allocator for since it was made. */
    public synchronized long allocations() {
        return allocations;
    }
}

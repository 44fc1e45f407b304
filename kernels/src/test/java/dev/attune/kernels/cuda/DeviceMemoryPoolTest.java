package dev.attune.kernels.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class DeviceMemoryPoolTest {

    /** A fake device of {@code capacity} bytes that records its calls. */
    static final class FakeDevice implements DeviceAllocator<long[]> {
        final long capacity;
        long used;
        final List<Long> allocated = new ArrayList<>();
        int frees;

        FakeDevice(long capacity) {
            this.capacity = capacity;
        }

        @Override
        public long[] allocate(long bytes) {
            if (used + bytes > capacity) {
                throw new GpuOutOfMemoryException(
                        "fake: out of memory",
                        CudaResults.OUT_OF_MEMORY,
                        "CUDA_ERROR_OUT_OF_MEMORY",
                        "fake",
                        bytes,
                        null);
            }
            used += bytes;
            allocated.add(bytes);
            return new long[] {bytes};
        }

        @Override
        public void free(long[] block) {
            used -= block[0];
            frees++;
        }
    }

    @Test
    void sizeClassesHaveFourStepsPerOctaveAndWasteAtMostAQuarter() {
        assertEquals(1024, DeviceMemoryPool.sizeClass(0));
        assertEquals(1024, DeviceMemoryPool.sizeClass(1));
        assertEquals(1024, DeviceMemoryPool.sizeClass(1024));
        assertEquals(1280, DeviceMemoryPool.sizeClass(1025));
        assertEquals(1536, DeviceMemoryPool.sizeClass(1281));
        assertEquals(2048, DeviceMemoryPool.sizeClass(2048));
        assertEquals(5L << 20, DeviceMemoryPool.sizeClass((4L << 20) + 1));
        assertEquals(1L << 30, DeviceMemoryPool.sizeClass(1L << 30));
        for (long b = 1; b < (1L << 40); b = b * 3 + 7) {
            long c = DeviceMemoryPool.sizeClass(b);
            assertTrue(c >= b, b + " -> " + c);
            assertTrue(c <= Math.max(1024, b + b / 4 + 1), b + " -> " + c);
            assertEquals(c, DeviceMemoryPool.sizeClass(c), "a class is its own class: " + c);
            assertEquals(0, c % 256, "256-byte multiples: " + c);
        }
        assertThrows(IllegalArgumentException.class, () -> DeviceMemoryPool.sizeClass(-1));
    }

    @Test
    void reusesAReleasedBlockOfTheSameClass() {
        FakeDevice dev = new FakeDevice(1 << 30);
        DeviceMemoryPool<long[]> pool = new DeviceMemoryPool<>(dev);
        DeviceMemoryPool.Block<long[]> a = pool.acquire(100_000);
        assertEquals(DeviceMemoryPool.sizeClass(100_000), a.bytes());
        assertEquals(a.bytes(), pool.liveBytes());
        pool.release(a);
        assertEquals(0, pool.liveBytes());
        assertEquals(a.bytes(), pool.cachedBytes());
        DeviceMemoryPool.Block<long[]> b = pool.acquire(99_000); // same class
        assertSame(a.handle(), b.handle());
        assertEquals(1, pool.allocations());
        assertEquals(0, pool.cachedBytes());
        DeviceMemoryPool.Block<long[]> c = pool.acquire(300_000); // other class: new block
        assertNotSame(b.handle(), c.handle());
        assertEquals(2, pool.allocations());
    }

    @Test
    void trimFreesOnlyCachedBlocks() {
        FakeDevice dev = new FakeDevice(1 << 30);
        DeviceMemoryPool<long[]> pool = new DeviceMemoryPool<>(dev);
        DeviceMemoryPool.Block<long[]> live = pool.acquire(4096);
        DeviceMemoryPool.Block<long[]> idle = pool.acquire(8192);
        pool.release(idle);
        assertEquals(8192, pool.trim());
        assertEquals(1, dev.frees);
        assertEquals(0, pool.cachedBytes());
        assertEquals(4096, pool.liveBytes());
        assertEquals(4096, dev.used);
        pool.release(live);
        assertEquals(4096, pool.trim());
        assertEquals(0, dev.used);
    }

    @Test
    void outOfMemoryFreesTheCacheAndRetriesOnce() {
        FakeDevice dev = new FakeDevice(10_000);
        DeviceMemoryPool<long[]> pool = new DeviceMemoryPool<>(dev);
        DeviceMemoryPool.Block<long[]> a = pool.acquire(6000); // class 6144
        pool.release(a);
        // 6144 cached + 5120 asked > 10000: the pool frees its cache and succeeds.
        DeviceMemoryPool.Block<long[]> b = pool.acquire(5000);
        assertEquals(5120, b.bytes());
        assertEquals(1, dev.frees);
        assertEquals(0, pool.cachedBytes());
        // Nothing cached to free: the refusal reaches the caller, and the pool is unchanged.
        GpuOutOfMemoryException e = assertThrows(GpuOutOfMemoryException.class, () -> pool.acquire(6000));
        assertEquals(6144, e.requestedBytes());
        assertEquals(5120, pool.liveBytes());
        pool.release(b);
        assertEquals(6144, pool.acquire(6000).bytes());
    }

    @Test
    void rejectsBlocksOfForeignSizes() {
        DeviceMemoryPool<long[]> pool = new DeviceMemoryPool<>(new FakeDevice(1 << 20));
        assertThrows(
                IllegalArgumentException.class, () -> pool.release(new DeviceMemoryPool.Block<>(new long[1], 1000)));
    }
}

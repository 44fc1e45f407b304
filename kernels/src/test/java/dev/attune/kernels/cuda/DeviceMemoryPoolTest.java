package dev.attune.kernels.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

class DeviceMemoryPoolTest {

    /**
     * A fake device of {@code capacity} bytes that records its calls. Thread-safe; notes whether it
     * was ever called with the monitor of {@link #pool} held. {@link #allocateGate} /
     * {@link #freeGate}, when set, hold every allocate / free until they are opened, after
     * counting the call in {@link #entered}.
     */
    static final class FakeDevice implements DeviceAllocator<long[]> {
        final long capacity;
        long used;
        final List<Long> allocated = new ArrayList<>();
        int frees;
        int refusals;
        volatile Object pool;
        volatile boolean calledUnderPoolLock;
        volatile CountDownLatch allocateGate;
        volatile CountDownLatch freeGate;
        final Semaphore entered = new Semaphore(0);

        FakeDevice(long capacity) {
            this.capacity = capacity;
        }

        <P> P watch(P pool) {
            this.pool = pool;
            return pool;
        }

        @Override
        public long[] allocate(long bytes) {
            check();
            await(allocateGate);
            synchronized (this) {
                if (used + bytes > capacity) {
                    refusals++;
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
            }
            return new long[] {bytes};
        }

        @Override
        public void free(long[] block) {
            check();
            await(freeGate);
            synchronized (this) {
                used -= block[0];
                frees++;
            }
        }

        synchronized long used() {
            return used;
        }

        synchronized int allocatedCount() {
            return allocated.size();
        }

        synchronized int refusals() {
            return refusals;
        }

        private void check() {
            Object p = pool;
            if (p != null && Thread.holdsLock(p)) {
                calledUnderPoolLock = true;
            }
        }

        private void await(CountDownLatch gate) {
            if (gate == null) {
                return;
            }
            entered.release();
            try {
                if (!gate.await(10, TimeUnit.SECONDS)) {
                    throw new AssertionError("gate never opened");
                }
            } catch (InterruptedException e) {
                throw new AssertionError(e);
            }
        }
    }

    private static final long WAIT_S = 5;

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
    void aDiscardedBlockIsFreedNotCachedAndLeavesTheLiveCount() {
        FakeDevice dev = new FakeDevice(1 << 30);
        DeviceMemoryPool<long[]> pool = dev.watch(new DeviceMemoryPool<>(dev));
        DeviceMemoryPool.Block<long[]> a = pool.acquire(100_000);
        DeviceMemoryPool.Block<long[]> b = pool.acquire(100_000);
        pool.discard(a);
        assertEquals(b.bytes(), pool.liveBytes());
        assertEquals(0, pool.cachedBytes(), "a block that may still be in use is never handed out again");
        assertEquals(1, dev.frees);
        assertEquals(b.bytes(), dev.used());
        assertFalse(dev.calledUnderPoolLock);
        DeviceMemoryPool.Block<long[]> c = pool.acquire(100_000);
        assertNotSame(a.handle(), c.handle());
    }

    @Test
    void reusesAReleasedBlockOfTheSameClass() {
        FakeDevice dev = new FakeDevice(1 << 30);
        DeviceMemoryPool<long[]> pool = dev.watch(new DeviceMemoryPool<>(dev));
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
        DeviceMemoryPool<long[]> pool = dev.watch(new DeviceMemoryPool<>(dev));
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
        DeviceMemoryPool<long[]> pool = dev.watch(new DeviceMemoryPool<>(dev));
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

    @Test
    void aBlockedAllocationHoldsUpNeitherCachedAcquiresNorReleases() throws Exception {
        FakeDevice dev = new FakeDevice(1 << 30);
        DeviceMemoryPool<long[]> pool = dev.watch(new DeviceMemoryPool<>(dev));
        DeviceMemoryPool.Block<long[]> cached = pool.acquire(4096);
        pool.release(cached);
        CountDownLatch gate = new CountDownLatch(1);
        dev.allocateGate = gate;
        ExecutorService threads = Executors.newFixedThreadPool(2);
        try {
            Future<DeviceMemoryPool.Block<long[]>> slow = threads.submit(() -> pool.acquire(8192));
            assertTrue(dev.entered.tryAcquire(WAIT_S, TimeUnit.SECONDS), "allocation started");
            // The other thread is inside allocate(): with the lock held across it these would hang.
            DeviceMemoryPool.Block<long[]> again =
                    threads.submit(() -> pool.acquire(4000)).get(WAIT_S, TimeUnit.SECONDS);
            assertSame(cached.handle(), again.handle());
            assertEquals(4096, pool.liveBytes(), "the allocation in flight is not yet live");
            threads.submit(() -> pool.release(again)).get(WAIT_S, TimeUnit.SECONDS);
            assertEquals(4096, pool.cachedBytes());
            assertFalse(slow.isDone());
            gate.countDown();
            assertEquals(8192, slow.get(WAIT_S, TimeUnit.SECONDS).bytes());
            assertEquals(8192, pool.liveBytes());
            assertEquals(2, pool.allocations());
        } finally {
            gate.countDown();
            threads.shutdownNow();
        }
        assertFalse(dev.calledUnderPoolLock);
    }

    @Test
    void trimFreesOutsideTheLockAndTheDetachedBlocksAreNoLongerHandedOut() throws Exception {
        FakeDevice dev = new FakeDevice(1 << 30);
        DeviceMemoryPool<long[]> pool = dev.watch(new DeviceMemoryPool<>(dev));
        DeviceMemoryPool.Block<long[]> a = pool.acquire(4096);
        DeviceMemoryPool.Block<long[]> b = pool.acquire(4096);
        pool.release(a);
        pool.release(b);
        CountDownLatch gate = new CountDownLatch(1);
        dev.freeGate = gate;
        ExecutorService threads = Executors.newFixedThreadPool(2);
        try {
            Future<Long> trim = threads.submit(pool::trim);
            assertTrue(dev.entered.tryAcquire(WAIT_S, TimeUnit.SECONDS), "free started");
            assertEquals(0, pool.cachedBytes(), "detached at once");
            // Same class as the blocks being freed: a new block, not one of theirs.
            DeviceMemoryPool.Block<long[]> c =
                    threads.submit(() -> pool.acquire(4096)).get(WAIT_S, TimeUnit.SECONDS);
            assertNotSame(a.handle(), c.handle());
            assertNotSame(b.handle(), c.handle());
            assertEquals(3, pool.allocations());
            threads.submit(() -> pool.release(c)).get(WAIT_S, TimeUnit.SECONDS);
            assertEquals(4096, pool.cachedBytes());
            assertFalse(trim.isDone());
            gate.countDown();
            assertEquals(8192, trim.get(WAIT_S, TimeUnit.SECONDS));
            assertEquals(2, dev.frees);
            assertEquals(4096, pool.cachedBytes(), "released during the trim: still cached");
            assertEquals(4096, dev.used());
        } finally {
            gate.countDown();
            threads.shutdownNow();
        }
        assertFalse(dev.calledUnderPoolLock);
    }

    @Test
    void aRefusedRequestWaitsForAnotherThreadsTrimAndRetries() throws Exception {
        FakeDevice dev = new FakeDevice(10_000);
        DeviceMemoryPool<long[]> pool = dev.watch(new DeviceMemoryPool<>(dev));
        pool.release(pool.acquire(6000)); // 6144 cached
        CountDownLatch gate = new CountDownLatch(1);
        dev.freeGate = gate;
        ExecutorService threads = Executors.newFixedThreadPool(2);
        try {
            Future<Long> trim = threads.submit(pool::trim);
            assertTrue(dev.entered.tryAcquire(WAIT_S, TimeUnit.SECONDS), "free started");
            AtomicReference<Thread> requester = new AtomicReference<>();
            // 6144 still on the device + 5120 > 10000: refused; the cache is already detached, so
            // this request's own trim frees nothing and must wait for the other one, then retry.
            Future<DeviceMemoryPool.Block<long[]>> request = threads.submit(() -> {
                requester.set(Thread.currentThread());
                return pool.acquire(5000);
            });
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(WAIT_S);
            while (dev.refusals() == 0
                    || requester.get() == null
                    || requester.get().getState() != Thread.State.WAITING) {
                assertTrue(System.nanoTime() < deadline, "request refused and waiting");
                Thread.sleep(1);
            }
            assertFalse(request.isDone());
            gate.countDown();
            assertEquals(6144, trim.get(WAIT_S, TimeUnit.SECONDS));
            assertEquals(5120, request.get(WAIT_S, TimeUnit.SECONDS).bytes());
            assertEquals(1, dev.refusals());
            assertEquals(5120, dev.used());
            assertEquals(5120, pool.liveBytes());
        } finally {
            gate.countDown();
            threads.shutdownNow();
        }
        assertFalse(dev.calledUnderPoolLock);
    }

    @Test
    void countersStayExactUnderConcurrentAcquireReleaseAndTrim() throws Exception {
        FakeDevice dev = new FakeDevice(Long.MAX_VALUE / 2);
        DeviceMemoryPool<long[]> pool = dev.watch(new DeviceMemoryPool<>(dev));
        long[] sizes = {1000, 4096, 5000, 70_000, 1 << 20};
        int threadCount = 8;
        // Every handle handed out and not yet released, by identity: a block given to two
        // holders at once would fail the add.
        Set<long[]> out = Collections.synchronizedSet(Collections.newSetFromMap(new IdentityHashMap<>()));
        ExecutorService threads = Executors.newFixedThreadPool(threadCount);
        List<Future<?>> done = new ArrayList<>();
        CountDownLatch start = new CountDownLatch(1);
        try {
            for (int t = 0; t < threadCount; t++) {
                long seed = t;
                done.add(threads.submit(() -> {
                    SplittableRandom rnd = new SplittableRandom(seed);
                    List<DeviceMemoryPool.Block<long[]>> held = new ArrayList<>();
                    start.await();
                    for (int i = 0; i < 3000; i++) {
                        int op = rnd.nextInt(10);
                        if (op < 5 || held.isEmpty()) {
                            DeviceMemoryPool.Block<long[]> b = pool.acquire(sizes[rnd.nextInt(sizes.length)]);
                            assertTrue(out.add(b.handle()), "handed out twice");
                            assertTrue(b.handle()[0] == b.bytes(), "a block of its class");
                            held.add(b);
                        } else if (op < 9) {
                            DeviceMemoryPool.Block<long[]> b = held.remove(rnd.nextInt(held.size()));
                            assertTrue(out.remove(b.handle()));
                            pool.release(b);
                        } else if (rnd.nextInt(20) == 0) {
                            pool.trim();
                        }
                    }
                    for (DeviceMemoryPool.Block<long[]> b : held) {
                        assertTrue(out.remove(b.handle()));
                        pool.release(b);
                    }
                    return null;
                }));
            }
            start.countDown();
            for (Future<?> f : done) {
                f.get(60, TimeUnit.SECONDS);
            }
        } finally {
            threads.shutdownNow();
        }
        assertEquals(0, pool.liveBytes());
        assertEquals(dev.allocatedCount(), pool.allocations());
        assertEquals(dev.used(), pool.cachedBytes(), "every block on the device is cached");
        long cached = pool.cachedBytes();
        assertEquals(cached, pool.trim());
        assertEquals(0, dev.used());
        assertEquals(dev.allocatedCount(), dev.frees);
        assertFalse(dev.calledUnderPoolLock);
    }
}

package dev.attune.kernels.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicIntegerArray;
import org.junit.jupiter.api.Test;

/**
 * The CPU worker pool: {@code parallelFor} covers every index exactly once in contiguous chunks
 * of at least {@code grain} items, no more chunks than threads, for many (n, grain, threads);
 * a failing chunk's exception reaches the caller (unchecked as is, checked wrapped) only after
 * every chunk has finished; invalid thread counts are refused; a one-thread pool runs on the
 * caller; {@code parallelForEach} runs every item once, hands a slow worker's share to the free
 * ones, and stops handing out items after a failure.
 */
class CpuThreadsTest {

    @Test
    void everyIndexIsCoveredExactlyOnceInValidChunks() {
        int[] ns = {0, 1, 2, 3, 5, 7, 8, 15, 16, 17, 31, 64, 100, 257, 1000, 4099};
        int[] grains = {-1, 0, 1, 2, 3, 7, 16, 100, 5000};
        for (int threads : new int[] {1, 2, 3, 4, 7}) {
            try (CpuThreads pool = new CpuThreads(threads)) {
                assertEquals(threads, pool.threads());
                for (int n : ns) {
                    for (int grain : grains) {
                        AtomicIntegerArray hits = new AtomicIntegerArray(Math.max(n, 1));
                        List<int[]> chunks = Collections.synchronizedList(new ArrayList<>());
                        pool.parallelFor(n, grain, (from, to) -> {
                            chunks.add(new int[] {from, to});
                            for (int i = from; i < to; i++) {
                                hits.incrementAndGet(i);
                            }
                        });
                        String where = "threads=" + threads + " n=" + n + " grain=" + grain;
                        for (int i = 0; i < n; i++) {
                            assertEquals(1, hits.get(i), where + " index " + i);
                        }
                        if (n == 0) {
                            assertTrue(chunks.isEmpty(), where + ": no chunk for an empty range");
                            continue;
                        }
                        assertTrue(chunks.size() <= threads, where + ": " + chunks.size() + " chunks");
                        int minLen = Math.min(n, Math.max(1, grain));
                        for (int[] c : chunks) {
                            assertTrue(c[0] < c[1], where + ": empty chunk");
                            assertTrue(c[1] - c[0] >= minLen, where + ": chunk of " + (c[1] - c[0]));
                        }
                        // Enough work for every thread gives every thread a chunk.
                        if (n / Math.max(1, grain) >= threads) {
                            assertEquals(threads, chunks.size(), where);
                        }
                    }
                }
            }
        }
    }

    @Test
    void chunksRunOnSeveralThreadsIncludingTheCaller() throws Exception {
        try (CpuThreads pool = new CpuThreads(3)) {
            Set<Thread> seen = ConcurrentHashMap.newKeySet();
            CountDownLatch allIn = new CountDownLatch(3);
            pool.parallelFor(3, 1, (from, to) -> {
                seen.add(Thread.currentThread());
                allIn.countDown();
                try {
                    // All three chunks must be running at once for the latch to open.
                    assertTrue(allIn.await(10, TimeUnit.SECONDS), "chunks did not run concurrently");
                } catch (InterruptedException e) {
                    throw new RuntimeException(e);
                }
            });
            assertEquals(3, seen.size());
            assertTrue(seen.contains(Thread.currentThread()), "the caller is one of the workers");
        }
    }

    @Test
    void singleRunsOnTheCallerThread() {
        try (CpuThreads pool = CpuThreads.single()) {
            assertEquals(1, pool.threads());
            Thread caller = Thread.currentThread();
            AtomicInteger calls = new AtomicInteger();
            pool.parallelFor(1000, 1, (from, to) -> {
                assertSame(caller, Thread.currentThread());
                assertEquals(0, from);
                assertEquals(1000, to);
                calls.incrementAndGet();
            });
            assertEquals(1, calls.get());
        }
    }

    @Test
    void threadCountBelowOneIsRefused() {
        assertThrows(IllegalArgumentException.class, () -> new CpuThreads(0));
        assertThrows(IllegalArgumentException.class, () -> new CpuThreads(-3));
    }

    @Test
    void runtimeExceptionFromAWorkerChunkIsRethrownAsIsAfterAllChunksFinish() {
        try (CpuThreads pool = new CpuThreads(4)) {
            for (int failing = 0; failing < 4; failing++) {
                int fail = failing;
                IllegalStateException boom = new IllegalStateException("chunk " + fail);
                AtomicInteger finished = new AtomicInteger();
                RuntimeException thrown = assertThrows(
                        RuntimeException.class,
                        () -> pool.parallelFor(4, 1, (from, to) -> {
                            if (from == fail) {
                                throw boom;
                            }
                            sleep(150); // the others are still busy when the failure happens
                            finished.incrementAndGet();
                        }));
                assertSame(boom, thrown, "failing chunk " + fail);
                assertEquals(3, finished.get(), "every other chunk finished before parallelFor threw");
            }
        }
    }

    @Test
    void errorIsRethrownAsIs() {
        try (CpuThreads pool = new CpuThreads(2)) {
            AssertionError err = new AssertionError("worker error");
            AssertionError thrown = assertThrows(
                    AssertionError.class,
                    () -> pool.parallelFor(2, 1, (from, to) -> {
                        if (from > 0) {
                            throw err;
                        }
                    }));
            assertSame(err, thrown);
        }
    }

    @Test
    void checkedExceptionIsWrappedAfterAllChunksFinish() {
        try (CpuThreads pool = new CpuThreads(3)) {
            IOException io = new IOException("disk");
            AtomicInteger finished = new AtomicInteger();
            IllegalStateException thrown = assertThrows(
                    IllegalStateException.class,
                    () -> pool.parallelFor(3, 1, (from, to) -> {
                        if (from > 0 && to == 3) {
                            sneakyThrow(io);
                        }
                        sleep(150);
                        finished.incrementAndGet();
                    }));
            assertSame(io, thrown.getCause());
            assertEquals(2, finished.get());
        }
    }

    @Test
    void callerChunkFailureStillWaitsForWorkers() {
        try (CpuThreads pool = new CpuThreads(3)) {
            AtomicInteger finished = new AtomicInteger();
            UnsupportedOperationException boom = new UnsupportedOperationException("caller chunk");
            Thread caller = Thread.currentThread();
            RuntimeException thrown = assertThrows(
                    RuntimeException.class,
                    () -> pool.parallelFor(3, 1, (from, to) -> {
                        if (Thread.currentThread() == caller) {
                            throw boom;
                        }
                        sleep(200);
                        finished.incrementAndGet();
                    }));
            assertSame(boom, thrown);
            assertEquals(2, finished.get(), "workers finished before parallelFor threw");
        }
    }

    @Test
    void poolIsReusableAfterAFailure() {
        try (CpuThreads pool = new CpuThreads(2)) {
            assertThrows(
                    IllegalArgumentException.class,
                    () -> pool.parallelFor(10, 1, (from, to) -> {
                        throw new IllegalArgumentException();
                    }));
            AtomicIntegerArray hits = new AtomicIntegerArray(10);
            pool.parallelFor(10, 1, (from, to) -> {
                for (int i = from; i < to; i++) {
                    hits.incrementAndGet(i);
                }
            });
            for (int i = 0; i < 10; i++) {
                assertEquals(1, hits.get(i));
            }
        }
    }

    @Test
    void forEachRunsEveryItemOnceAsItsOwnRange() {
        for (int threads : new int[] {1, 2, 3, 5}) {
            try (CpuThreads pool = new CpuThreads(threads)) {
                for (int n : new int[] {0, 1, 2, 7, 100}) {
                    AtomicIntegerArray seen = new AtomicIntegerArray(Math.max(1, n));
                    pool.parallelForEach(n, (from, to) -> {
                        if (threads > 1 && n > 1) {
                            assertEquals(from + 1, to, "one item per call");
                        }
                        for (int i = from; i < to; i++) {
                            seen.incrementAndGet(i);
                        }
                    });
                    for (int i = 0; i < n; i++) {
                        assertEquals(1, seen.get(i), "threads=" + threads + " n=" + n + " item " + i);
                    }
                }
            }
        }
    }

    @Test
    void forEachLetsTheFreeWorkersTakeOverASlowWorkersShare() {
        try (CpuThreads pool = new CpuThreads(2)) {
            // Item 0 is slow; a static split would leave items 1..9 of the first half waiting behind it.
            Set<String> threadOfLateItems = ConcurrentHashMap.newKeySet();
            AtomicInteger done = new AtomicInteger();
            String[] slowThread = new String[1];
            pool.parallelForEach(10, (from, to) -> {
                if (from == 0) {
                    slowThread[0] = Thread.currentThread().getName();
                    sleep(300);
                } else {
                    threadOfLateItems.add(Thread.currentThread().getName());
                }
                done.incrementAndGet();
            });
            assertEquals(10, done.get());
            assertEquals(1, threadOfLateItems.size(), "items 1..9 all ran on the worker that was free");
            assertTrue(!threadOfLateItems.contains(slowThread[0]), "the slow worker took none of them");
        }
    }

    @Test
    void forEachRethrowsAFailureAndStopsHandingOutItems() {
        try (CpuThreads pool = new CpuThreads(2)) {
            AtomicInteger ran = new AtomicInteger();
            IllegalStateException e = assertThrows(
                    IllegalStateException.class,
                    () -> pool.parallelForEach(1000, (f, t) -> {
                        ran.incrementAndGet();
                        if (f == 3) {
                            throw new IllegalStateException("item 3 failed");
                        }
                        sleep(1);
                    }));
            assertEquals("item 3 failed", e.getMessage());
            assertTrue(ran.get() < 1000, "items stopped being handed out after the failure: " + ran.get());
            // The pool is usable afterwards.
            AtomicInteger again = new AtomicInteger();
            pool.parallelForEach(5, (f, t) -> again.incrementAndGet());
            assertEquals(5, again.get());
        }
    }

    /** A body that calls back into its own pool runs that inner call on its own thread, to the end. */
    @Test
    void aNestedCallRunsOnItsCallerWithoutDeadlock() {
        try (CpuThreads pool = new CpuThreads(3)) {
            AtomicIntegerArray seen = new AtomicIntegerArray(3 * 50);
            pool.parallelFor(3, 1, (from, to) -> {
                for (int outer = from; outer < to; outer++) {
                    int o = outer;
                    pool.parallelFor(50, 1, (a, b) -> {
                        for (int i = a; i < b; i++) {
                            seen.incrementAndGet(o * 50 + i);
                        }
                    });
                }
            });
            for (int i = 0; i < seen.length(); i++) {
                assertEquals(1, seen.get(i), "item " + i);
            }
        }
    }

    /** Two threads sharing one pool (against its contract) still each get every index exactly once. */
    @Test
    void concurrentCallersEachGetTheirWholeRange() throws Exception {
        try (CpuThreads pool = new CpuThreads(2)) {
            int rounds = 300;
            AtomicIntegerArray a = new AtomicIntegerArray(64);
            AtomicIntegerArray b = new AtomicIntegerArray(64);
            Thread other = new Thread(() -> {
                for (int r = 0; r < rounds; r++) {
                    pool.parallelForEach(64, (from, to) -> a.incrementAndGet(from));
                }
            });
            other.start();
            for (int r = 0; r < rounds; r++) {
                pool.parallelForEach(64, (from, to) -> b.incrementAndGet(from));
            }
            other.join(TimeUnit.SECONDS.toMillis(60));
            assertTrue(!other.isAlive(), "the other caller finished");
            for (int i = 0; i < 64; i++) {
                assertEquals(rounds, a.get(i), "other caller, item " + i);
                assertEquals(rounds, b.get(i), "this caller, item " + i);
            }
        }
    }

    /** Workers parked after a pause wake for the next call; a closed pool refuses calls. */
    @Test
    void workersWakeAfterParkingAndAClosedPoolRefusesWork() {
        CpuThreads pool = new CpuThreads(2);
        Set<String> names = ConcurrentHashMap.newKeySet();
        for (int round = 0; round < 3; round++) {
            sleep(20); // longer than the spin: the worker has parked
            CountDownLatch both = new CountDownLatch(2);
            pool.parallelFor(2, 1, (from, to) -> {
                names.add(Thread.currentThread().getName());
                both.countDown();
                try {
                    assertTrue(both.await(30, TimeUnit.SECONDS), "both chunks run at the same time");
                } catch (InterruptedException e) {
                    throw new IllegalStateException(e);
                }
            });
        }
        assertEquals(2, names.size(), "the caller and one worker: " + names);
        pool.close();
        assertThrows(IllegalStateException.class, () -> pool.parallelFor(4, 1, (from, to) -> {}));
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            fail("interrupted");
        }
    }

    @SuppressWarnings("unchecked")
    private static <T extends Throwable> void sneakyThrow(Throwable t) throws T {
        throw (T) t;
    }
}

package dev.attune.kernels.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/**
 * The backend's teardown waits for its last user: it runs once, at close when nobody is inside,
 * else on the thread of the last user to leave; nobody is admitted after close, and admission and
 * teardown never overlap, under contention too.
 */
class UseGateTest {

    @Test
    void closeWithNobodyInsideTearsDownAtOnceAndOnlyOnce() {
        AtomicInteger teardowns = new AtomicInteger();
        UseGate g = new UseGate(teardowns::incrementAndGet);
        assertTrue(g.close());
        assertFalse(g.close());
        assertEquals(1, teardowns.get());
        assertTrue(g.closing());
        assertFalse(g.tryEnter());
    }

    @Test
    void theLastUserToLeaveTearsDownOnItsOwnThread() throws Exception {
        AtomicReference<Thread> ranOn = new AtomicReference<>();
        UseGate g = new UseGate(() -> ranOn.set(Thread.currentThread()));
        assertTrue(g.tryEnter());
        assertTrue(g.tryEnter());
        assertEquals(2, g.users());
        assertFalse(g.close(), "two users inside");
        assertFalse(g.tryEnter(), "nobody is admitted after close");
        assertEquals(2, g.users());
        g.exit();
        assertSame(null, ranOn.get());
        Thread last = new Thread(g::exit);
        last.start();
        last.join();
        assertSame(last, ranOn.get());
        assertEquals(0, g.users());
    }

    @Test
    void usesBeforeCloseDoNotTearDown() {
        AtomicInteger teardowns = new AtomicInteger();
        UseGate g = new UseGate(teardowns::incrementAndGet);
        for (int i = 0; i < 5; i++) {
            assertTrue(g.tryEnter());
            g.exit();
        }
        assertEquals(0, teardowns.get());
        assertEquals(0, g.users());
    }

    @Test
    void moreExitsThanEntriesAreRefused() {
        UseGate g = new UseGate(() -> {});
        g.close();
        assertThrows(IllegalStateException.class, g::exit);
    }

    @Test
    void aFailingTeardownReachesTheThreadThatRanIt() {
        UseGate g = new UseGate(() -> {
            throw new IllegalStateException("cuMemFree refused");
        });
        assertTrue(g.tryEnter());
        g.close();
        IllegalStateException e = assertThrows(IllegalStateException.class, g::exit);
        assertEquals("cuMemFree refused", e.getMessage());
    }

    @Test
    void underContentionTheTeardownRunsOnceAndNeverWithAUserInside() throws Exception {
        for (int round = 0; round < 20; round++) {
            AtomicInteger inside = new AtomicInteger();
            AtomicInteger teardowns = new AtomicInteger();
            AtomicInteger overlaps = new AtomicInteger();
            UseGate g = new UseGate(() -> {
                if (inside.get() != 0) {
                    overlaps.incrementAndGet();
                }
                teardowns.incrementAndGet();
            });
            int threads = 4;
            CountDownLatch start = new CountDownLatch(1);
            Thread[] users = new Thread[threads];
            for (int t = 0; t < threads; t++) {
                users[t] = new Thread(() -> {
                    try {
                        start.await();
                    } catch (InterruptedException e) {
                        return;
                    }
                    for (int i = 0; i < 2_000; i++) {
                        if (!g.tryEnter()) {
                            return;
                        }
                        inside.incrementAndGet();
                        if (teardowns.get() != 0) {
                            overlaps.incrementAndGet();
                        }
                        inside.decrementAndGet();
                        g.exit();
                    }
                });
                users[t].start();
            }
            start.countDown();
            Thread.sleep(1);
            g.close();
            for (Thread t : users) {
                t.join();
            }
            assertEquals(1, teardowns.get(), "round " + round);
            assertEquals(0, overlaps.get(), "round " + round);
        }
    }
}

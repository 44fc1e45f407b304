package dev.attune.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** Retired residents are freed after their last user, never under one, and only once. */
class LeasedResidentsTest {

    /** A resident "weights" value; {@code freed} counts how often it was freed. */
    static final class Weights {
        final String key;
        final AtomicInteger freed = new AtomicInteger();

        Weights(String key) {
            this.key = key;
        }
    }

    private final List<Weights> made = Collections.synchronizedList(new ArrayList<>());
    private final LeasedResidents<String, Weights> set = new LeasedResidents<>(
            k -> {
                Weights w = new Weights(k);
                made.add(w);
                return w;
            },
            w -> w.freed.incrementAndGet());

    @Test
    void aRetiredValueIsFreedWhenItsLastLeaseClosesAndNewUsersGetAFreshOne() {
        LeasedResidents<String, Weights>.Lease a = set.acquire("fp16");
        LeasedResidents<String, Weights>.Lease b = set.acquire("fp16");
        assertSame(a.value(), b.value(), "made once, shared");
        Weights fp16 = a.value();
        assertTrue(set.retire("fp16"));
        assertFalse(set.holds("fp16"));
        assertEquals(0, fp16.freed.get(), "two users still read it");
        a.close();
        a.close(); // idempotent: does not count as b's close
        assertEquals(0, fp16.freed.get());
        b.close();
        assertEquals(1, fp16.freed.get(), "freed after the last user");
        try (LeasedResidents<String, Weights>.Lease c = set.acquire("fp16")) {
            assertNotSame(fp16, c.value(), "a retired key is made anew");
        }
        assertFalse(set.retire("bf16"), "nothing to retire");
    }

    @Test
    void anIdleValueIsFreedAtOnceAndCloseFreesTheRest() {
        set.acquire("fp16").close();
        Weights fp16 = made.get(0);
        set.retire("fp16");
        assertEquals(1, fp16.freed.get());
        set.acquire("fp32").close();
        set.close();
        assertEquals(1, made.get(1).freed.get());
        assertEquals(1, fp16.freed.get(), "not freed twice");
    }

    @Test
    void aFailedMakeKeepsNothing() {
        LeasedResidents<String, Weights> failing = new LeasedResidents<>(
                k -> {
                    throw new IllegalStateException("does not fit");
                },
                w -> {});
        assertThrows(IllegalStateException.class, () -> failing.acquire("fp32"));
        assertFalse(failing.holds("fp32"));
    }

    @Test
    void concurrentUsersAndARetireFreeTheValueExactlyOnceAfterTheLastUser() throws Exception {
        int users = 8;
        ExecutorService pool = Executors.newFixedThreadPool(users);
        CountDownLatch holding = new CountDownLatch(users);
        CountDownLatch release = new CountDownLatch(1);
        AtomicInteger freedWhileHeld = new AtomicInteger();
        try {
            List<Future<?>> done = new ArrayList<>();
            for (int i = 0; i < users; i++) {
                done.add(pool.submit(() -> {
                    try (LeasedResidents<String, Weights>.Lease l = set.acquire("fp16")) {
                        holding.countDown();
                        release.await(10, TimeUnit.SECONDS);
                        if (l.value().freed.get() != 0) {
                            freedWhileHeld.incrementAndGet();
                        }
                    }
                    return null;
                }));
            }
            assertTrue(holding.await(10, TimeUnit.SECONDS));
            set.retire("fp16");
            release.countDown();
            for (Future<?> f : done) {
                f.get(10, TimeUnit.SECONDS);
            }
        } finally {
            release.countDown();
            pool.shutdownNow();
        }
        assertEquals(1, made.size(), "one upload for all users");
        assertEquals(0, freedWhileHeld.get(), "never freed under a user");
        assertEquals(1, made.get(0).freed.get(), "freed exactly once");
    }
}

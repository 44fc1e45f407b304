package dev.attune.kernels.cpu;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A fixed number of worker threads on which the CPU kernels split their work.
 *
 * <p>Lifecycle: created by the owner of a forward pass (a CLI run, or a Spark task that must stay
 * within the cores Spark gave it) and closed by the same owner. A pool of one thread runs every
 * range on the calling thread and starts no threads at all.
 *
 * <p>Threading: {@link #parallelFor} and {@link #parallelForEach} may be called from one thread at a time per pool; the body is
 * run concurrently on disjoint sub-ranges and must only write to memory owned by its sub-range.
 *
 * <p>Failure: an exception thrown by any body is rethrown (wrapped, unless unchecked) from
 * {@code parallelFor} after every sub-range has finished, so no worker is left writing into
 * buffers the caller reuses.
 */
public final class CpuThreads implements AutoCloseable {

    /** A body over the half-open range {@code [from, to)}. */
    @FunctionalInterface
    public interface RangeBody {
        void run(int from, int to);
    }

    private static final AtomicInteger POOL_IDS = new AtomicInteger();

    private final int threads;
    private final ExecutorService pool;

    public CpuThreads(int threads) {
        if (threads < 1) {
            throw new IllegalArgumentException("thread count must be at least 1, got " + threads);
        }
        this.threads = threads;
        if (threads == 1) {
            this.pool = null;
        } else {
            int id = POOL_IDS.incrementAndGet();
            AtomicInteger n = new AtomicInteger();
            this.pool = Executors.newFixedThreadPool(threads - 1, r -> {
                Thread t = new Thread(r, "attune-cpu-" + id + "-" + n.incrementAndGet());
                t.setDaemon(true);
                return t;
            });
        }
    }

    /** A pool with one thread: everything runs on the caller. */
    public static CpuThreads single() {
        return new CpuThreads(1);
    }

    public int threads() {
        return threads;
    }

    /**
     * Runs {@code body} over {@code [0, n)} split into contiguous chunks of at least {@code grain}
     * items, using the caller as one of the workers.
     */
    public void parallelFor(int n, int grain, RangeBody body) {
        if (n <= 0) {
            return;
        }
        int chunks = Math.min(threads, Math.max(1, n / Math.max(1, grain)));
        if (chunks == 1 || pool == null) {
            body.run(0, n);
            return;
        }
        // Balanced split: the first (n % chunks) chunks get one extra item.
        int base = n / chunks;
        int extra = n % chunks;
        List<Runnable> parts = new ArrayList<>(chunks);
        int from = 0;
        for (int c = 0; c < chunks; c++) {
            int f = from;
            int t = from + base + (c < extra ? 1 : 0);
            parts.add(() -> body.run(f, t));
            from = t;
        }
        runAll(parts);
    }

    /**
     * Runs {@code body} once for each item of {@code [0, n)} (as the range {@code [i, i + 1)}), the
     * items handed out one at a time, in order, to whichever worker is free. For items that are
     * independent and each worth a few milliseconds: when another process takes a core, the other
     * workers take over its share instead of the whole call waiting for the slowest static chunk.
     * The caller is one of the workers; the same threading and failure contract as
     * {@link #parallelFor}.
     */
    public void parallelForEach(int n, RangeBody body) {
        if (n <= 0) {
            return;
        }
        int workers = Math.min(threads, n);
        if (workers == 1 || pool == null) {
            body.run(0, n);
            return;
        }
        AtomicInteger next = new AtomicInteger();
        // After a failure the other workers stop claiming, so the call ends soon.
        AtomicBoolean failed = new AtomicBoolean();
        Runnable worker = () -> {
            try {
                for (int i; !failed.get() && (i = next.getAndIncrement()) < n; ) {
                    body.run(i, i + 1);
                }
            } catch (RuntimeException | Error e) {
                failed.set(true);
                throw e;
            }
        };
        List<Runnable> parts = new ArrayList<>(workers);
        for (int w = 0; w < workers; w++) {
            parts.add(worker);
        }
        runAll(parts);
    }

    /** Runs {@code parts[1..]} on the pool and {@code parts[0]} on the caller; returns when all have ended. */
    private void runAll(List<Runnable> parts) {
        List<Future<?>> futures = new ArrayList<>(parts.size() - 1);
        for (int i = 1; i < parts.size(); i++) {
            futures.add(pool.submit(parts.get(i)));
        }
        Throwable failure = null;
        try {
            parts.get(0).run();
        } catch (Throwable t) {
            failure = t;
        }
        for (Future<?> f : futures) {
            try {
                f.get();
            } catch (ExecutionException e) {
                if (failure == null) {
                    failure = e.getCause();
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                if (failure == null) {
                    failure = e;
                }
            }
        }
        if (failure instanceof RuntimeException re) {
            throw re;
        }
        if (failure instanceof Error err) {
            throw err;
        }
        if (failure != null) {
            throw new IllegalStateException("CPU kernel worker failed", failure);
        }
    }

    @Override
    public void close() {
        if (pool != null) {
            pool.shutdownNow();
        }
    }
}

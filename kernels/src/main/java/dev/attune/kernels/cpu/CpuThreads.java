package dev.attune.kernels.cpu;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A fixed number of worker threads on which the CPU kernels split their work.
 *
 * <p>Lifecycle: created by the owner of a forward pass (a CLI run, or a Spark task that must stay
 * within the cores Spark gave it) and closed by the same owner. A pool of one thread runs every
 * range on the calling thread and starts no threads at all.
 *
 * <p>Threading: {@link #parallelFor} may be called from one thread at a time per pool; the body is
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
        List<Future<?>> futures = new ArrayList<>(chunks - 1);
        int from = base + (extra > 0 ? 1 : 0);
        int firstEnd = from;
        for (int c = 1; c < chunks; c++) {
            int len = base + (c < extra ? 1 : 0);
            int f = from;
            int t = from + len;
            futures.add(pool.submit(() -> body.run(f, t)));
            from = t;
        }
        Throwable failure = null;
        try {
            body.run(0, firstEnd);
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

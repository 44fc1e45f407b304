package dev.attune.kernels.cpu;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;

/**
 * A fixed number of worker threads on which the CPU kernels split their work.
 *
 * <p>Lifecycle: created by the owner of a forward pass (a CLI run, or a Spark task that must stay
 * within the cores Spark gave it) and closed by the same owner. A pool of one thread runs every
 * range on the calling thread and starts no threads at all.
 *
 * <p>Threading: {@link #parallelFor} and {@link #parallelForEach} are meant to be called from one
 * thread at a time per pool (a call made while another is handing out work, from a second thread
 * or from inside a body, runs its sub-ranges one after the other on its caller); the body is run
 * concurrently on disjoint sub-ranges and must only write to memory owned by its sub-range. The
 * workers are the pool's own threads; between calls each spins for 0.2 ms before it parks, as
 * OpenMP runtimes do, so that the back-to-back ops of a forward pass do not pay a thread wake-up
 * each (3–30 µs, more than many of a decode step's ops take).
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

    /**
     * How long a worker (or the caller, waiting for the workers) spins before it parks: the ops of
     * a forward pass follow each other within microseconds, and waking a parked thread costs
     * 3–30 µs, more than many of a decode step's ops take.
     */
    private static final long SPIN_NANOS = 200_000;

    private final int threads;
    /** threads - 1 workers, or null for a pool of one. */
    private final Worker[] pool;
    /** Set while a call hands out work; a nested or concurrent call runs on its caller instead. */
    private final AtomicBoolean dispatching = new AtomicBoolean();
    /** The thread waiting in {@link #runAll} for the workers, or null. */
    private volatile Thread waiter;

    private volatile boolean closed;

    public CpuThreads(int threads) {
        if (threads < 1) {
            throw new IllegalArgumentException("thread count must be at least 1, got " + threads);
        }
        this.threads = threads;
        if (threads == 1) {
            this.pool = null;
        } else {
            int id = POOL_IDS.incrementAndGet();
            this.pool = new Worker[threads - 1];
            for (int i = 0; i < pool.length; i++) {
                pool[i] = new Worker("attune-cpu-" + id + "-" + (i + 1));
            }
        }
    }

    /**
     * One worker thread: takes the task put in {@link #task}, runs it, records its failure and
     * clears {@code task} (the volatile write that publishes both to the caller). Between tasks it
     * spins for {@link #SPIN_NANOS}, then parks until the caller unparks it.
     */
    private final class Worker implements Runnable {
        private final Thread thread;
        private volatile Runnable task;
        private volatile boolean parked;
        /** The last task's failure; read by the caller after it sees {@code task} cleared. */
        private Throwable failure;

        Worker(String name) {
            thread = new Thread(this, name);
            thread.setDaemon(true);
            thread.start();
        }

        @Override
        public void run() {
            for (Runnable t; (t = next()) != null; ) {
                Throwable f = null;
                try {
                    t.run();
                } catch (Throwable e) {
                    f = e;
                }
                failure = f;
                task = null;
                Thread w = waiter;
                if (w != null) {
                    LockSupport.unpark(w);
                }
            }
        }

        /** The next task, or null once the pool is closed. */
        private Runnable next() {
            long start = System.nanoTime();
            while (true) {
                Runnable t = task;
                if (t != null || closed) {
                    return t;
                }
                if (System.nanoTime() - start < SPIN_NANOS) {
                    Thread.onSpinWait();
                    continue;
                }
                // Announce the park before the last look: the caller sets task, then reads parked,
                // so either it sees parked and unparks, or this thread sees the task.
                parked = true;
                if (task == null && !closed) {
                    LockSupport.park(this);
                }
                parked = false;
            }
        }

        void start(Runnable t) {
            task = t;
            if (parked) {
                LockSupport.unpark(thread);
            }
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

    /** Runs {@code parts[1..]} on the workers and {@code parts[0]} on the caller; returns when all have ended. */
    private void runAll(List<Runnable> parts) {
        if (closed) {
            throw new IllegalStateException("this CPU thread pool is closed");
        }
        if (!dispatching.compareAndSet(false, true)) {
            // A body calling back into its own pool, or a second caller: the workers are taken,
            // so this call's parts run one after the other here.
            for (Runnable p : parts) {
                p.run();
            }
            return;
        }
        try {
            waiter = Thread.currentThread();
            int used = parts.size() - 1;
            for (int i = 0; i < used; i++) {
                pool[i].start(parts.get(i + 1));
            }
            Throwable failure = null;
            try {
                parts.get(0).run();
            } catch (Throwable t) {
                failure = t;
            }
            // Every worker finishes its part before this returns, failure or not: none may still
            // be writing into buffers the caller reuses. An interrupt does not cut the wait short
            // (the parts take milliseconds); the thread's interrupt status is left set.
            for (int i = 0; i < used; i++) {
                Worker w = pool[i];
                long start = System.nanoTime();
                while (w.task != null) {
                    if (System.nanoTime() - start < SPIN_NANOS) {
                        Thread.onSpinWait();
                    } else {
                        LockSupport.parkNanos(this, 1_000_000);
                    }
                }
                if (failure == null) {
                    failure = w.failure;
                }
                w.failure = null;
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
        } finally {
            waiter = null;
            dispatching.set(false);
        }
    }

    /** Stops the workers once they finish what they run; a call after this is refused. */
    @Override
    public void close() {
        closed = true;
        if (pool != null) {
            for (Worker w : pool) {
                LockSupport.unpark(w.thread);
            }
        }
    }
}

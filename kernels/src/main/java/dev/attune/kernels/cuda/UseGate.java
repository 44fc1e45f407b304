package dev.attune.kernels.cuda;

/**
 * Counts the users of a resource whose teardown must wait for all of them: a {@link CudaBackend}
 * is freed and its context released only after the last open session and the last transient call
 * (an upload, a memory query, the background module load) have left, so no thread binds a context
 * that a shutdown or a runtime replacement destroyed under it. Checking that the backend is open
 * and counting the caller as a user are one atomic step ({@link #tryEnter}).
 *
 * <p>Lifecycle: open with one reference, the owner's; {@link #close} refuses new users and drops
 * the owner's reference. The teardown runs exactly once, on the thread that drops the last
 * reference: in {@link #close} when no user is inside, else in the last user's {@link #exit}.
 *
 * <p>Threading: thread-safe; the teardown runs outside the gate's monitor, so it may take as long
 * as it needs (waiting for the device) without blocking {@link #tryEnter} callers, who are refused
 * meanwhile.
 */
final class UseGate {

    private final Runnable teardown;
    /** Users inside plus the owner's reference until {@link #close}. */
    private int references = 1;

    private boolean closing;

    UseGate(Runnable teardown) {
        this.teardown = teardown;
    }

    /** Counts the caller as a user; false, counting nothing, once {@link #close} was called. */
    synchronized boolean tryEnter() {
        if (closing) {
            return false;
        }
        references++;
        return true;
    }

    /**
     * Ends a use that {@link #tryEnter} admitted; runs the teardown when it was the last reference.
     *
     * @throws RuntimeException what the teardown threw, when it ran here
     */
    void exit() {
        boolean last;
        synchronized (this) {
            if (references == 0) {
                throw new IllegalStateException("more exits than entries");
            }
            last = --references == 0;
        }
        if (last) {
            teardown.run();
        }
    }

    /**
     * Refuses new users and drops the owner's reference. Idempotent.
     *
     * @return whether the teardown ran in this call (no user was inside)
     * @throws RuntimeException what the teardown threw, when it ran here
     */
    boolean close() {
        synchronized (this) {
            if (closing) {
                return false;
            }
            closing = true;
            if (--references > 0) {
                return false;
            }
        }
        teardown.run();
        return true;
    }

    /** Whether {@link #close} was called. */
    synchronized boolean closing() {
        return closing;
    }

    /** Users inside now (the owner's reference not counted). */
    synchronized int users() {
        return closing ? references : references - 1;
    }
}

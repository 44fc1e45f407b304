package dev.attune.kernels.cuda;

import java.util.List;

/**
 * What a closing {@link CudaSession} does with its stream and buffers, apart from JCuda so that
 * every outcome of the final synchronization is checked without a GPU. The rule: memory and a
 * stream go back for reuse only when the stream is known idle; otherwise they are freed (the
 * frees wait for the device), never handed to another stream; after a sticky failure they are
 * abandoned with the context. Nothing is left unaccounted for, whatever fails.
 *
 * <p>Threading: called by the closing session's thread, with its context made current by the
 * steps themselves.
 */
final class SessionTeardown {

    /** The steps of one session's release. */
    interface Steps<B> {
        /** Whether the backend's context was lost (its memory and streams are then abandoned). */
        boolean contextLost();

        /** Waits for the session's stream. */
        void synchronize();

        /** Records a failure that may be sticky; returns it. */
        KernelFailureException lose(KernelFailureException e);

        /** Returns an idle block to the pool. */
        void release(B block);

        /** Frees a block that may still be in use. */
        void discard(B block);

        /** Hands the idle stream back to the backend. */
        void recycleStream();

        /** Destroys a stream that may still have work. */
        void destroyStream();
    }

    private SessionTeardown() {}

    /**
     * Synchronizes and releases; returns the first failure met (later ones suppressed in it), or
     * null. Never throws.
     */
    static <B> RuntimeException finish(Steps<B> steps, List<B> blocks) {
        if (steps.contextLost()) {
            return null;
        }
        RuntimeException failure = null;
        boolean idle;
        try {
            steps.synchronize();
            idle = true;
        } catch (KernelFailureException e) {
            failure = steps.lose(e);
            // a non-sticky failure leaves the stream finished and idle
            idle = !e.contextLost();
        } catch (RuntimeException e) {
            // the context could not be made current, or the wait failed some other way: the
            // device may still be using the blocks
            failure = e;
            idle = false;
        }
        if (steps.contextLost()) {
            return failure;
        }
        if (idle) {
            for (B b : blocks) {
                steps.release(b);
            }
            try {
                steps.recycleStream();
            } catch (RuntimeException e) {
                failure = first(failure, e);
            }
            return failure;
        }
        for (B b : blocks) {
            try {
                steps.discard(b);
            } catch (RuntimeException e) {
                failure = first(failure, e);
            }
        }
        try {
            steps.destroyStream();
        } catch (RuntimeException e) {
            failure = first(failure, e);
        }
        return failure;
    }

    private static RuntimeException first(RuntimeException failure, RuntimeException next) {
        if (failure == null) {
            return next;
        }
        if (failure != next) {
            failure.addSuppressed(next);
        }
        return failure;
    }
}

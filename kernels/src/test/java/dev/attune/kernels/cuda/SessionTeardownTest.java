package dev.attune.kernels.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * A closing session accounts for its buffers and stream whatever its final synchronization meets:
 * reused when the stream is known idle (including after a non-sticky kernel failure), freed and
 * destroyed when it may still be busy (a generic failure: they must not go to another stream),
 * abandoned with a lost context; a failing step does not stop the others.
 */
class SessionTeardownTest {

    /** Records the steps; {@code syncFailure} is what the synchronization throws. */
    private static final class Recorder implements SessionTeardown.Steps<String> {
        final List<String> steps = new ArrayList<>();
        RuntimeException syncFailure;
        RuntimeException discardFailure;
        boolean lost;

        @Override
        public boolean contextLost() {
            return lost;
        }

        @Override
        public void synchronize() {
            steps.add("sync");
            if (syncFailure != null) {
                throw syncFailure;
            }
        }

        @Override
        public KernelFailureException lose(KernelFailureException e) {
            steps.add("lose");
            if (e.contextLost()) {
                lost = true;
            }
            return e;
        }

        @Override
        public void release(String block) {
            steps.add("release " + block);
        }

        @Override
        public void discard(String block) {
            steps.add("discard " + block);
            if (discardFailure != null && block.equals("a")) {
                throw discardFailure;
            }
        }

        @Override
        public void recycleStream() {
            steps.add("recycle");
        }

        @Override
        public void destroyStream() {
            steps.add("destroy");
        }
    }

    private static KernelFailureException kernelFailure(boolean sticky) {
        return new KernelFailureException("illegal address", 700, "CUDA_ERROR_ILLEGAL_ADDRESS", "GPU 0", sticky, null);
    }

    @Test
    void anIdleStreamAndItsBlocksAreReused() {
        Recorder r = new Recorder();
        assertNull(SessionTeardown.finish(r, List.of("a", "b")));
        assertEquals(List.of("sync", "release a", "release b", "recycle"), r.steps);
    }

    @Test
    void aNonStickyKernelFailureLeavesTheStreamIdleSoEverythingIsReused() {
        Recorder r = new Recorder();
        r.syncFailure = kernelFailure(false);
        assertSame(r.syncFailure, SessionTeardown.finish(r, List.of("a")));
        assertEquals(List.of("sync", "lose", "release a", "recycle"), r.steps);
    }

    @Test
    void aStickyFailureAbandonsEverythingWithTheContext() {
        Recorder r = new Recorder();
        r.syncFailure = kernelFailure(true);
        assertSame(r.syncFailure, SessionTeardown.finish(r, List.of("a", "b")));
        assertEquals(List.of("sync", "lose"), r.steps);
    }

    @Test
    void aLostContextIsNotTouched() {
        Recorder r = new Recorder();
        r.lost = true;
        assertNull(SessionTeardown.finish(r, List.of("a")));
        assertEquals(List.of(), r.steps);
    }

    @Test
    void aGenericFailureFreesTheBlocksAndDestroysTheStreamInsteadOfReusingThem() {
        Recorder r = new Recorder();
        r.syncFailure = new IllegalStateException("cuCtxSetCurrent refused");
        assertSame(r.syncFailure, SessionTeardown.finish(r, List.of("a", "b")));
        assertEquals(List.of("sync", "discard a", "discard b", "destroy"), r.steps);
    }

    @Test
    void aFailingFreeDoesNotStopTheOthersAndIsSuppressedInTheFirstFailure() {
        Recorder r = new Recorder();
        r.syncFailure = new IllegalStateException("cuCtxSetCurrent refused");
        r.discardFailure = new IllegalStateException("cuMemFree refused");
        RuntimeException e = SessionTeardown.finish(r, List.of("a", "b"));
        assertSame(r.syncFailure, e);
        assertEquals(List.of(r.discardFailure), List.of(e.getSuppressed()));
        assertEquals(List.of("sync", "discard a", "discard b", "destroy"), r.steps);
    }
}

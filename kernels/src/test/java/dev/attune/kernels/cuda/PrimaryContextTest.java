package dev.attune.kernels.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.attune.kernels.device.ComputeCapability;
import dev.attune.kernels.device.DeviceInfo;
import java.util.ArrayList;
import java.util.List;
import jcuda.driver.CUcontext;
import jcuda.driver.CUctx_flags;
import jcuda.driver.CUdevice;
import org.junit.jupiter.api.Test;

/**
 * The driver calls that open, enter and release a primary context (no GPU here: a recording
 * stand-in for the driver answers them, and keeps a current context per thread as the driver
 * does): blocking synchronisation is set before the first retain, other flags kept and the
 * previous scheduling mode replaced; a context another library already holds keeps its flags; a
 * refused flag change stops before the retain, naming the call. Entering makes the context
 * current and closing the scope puts back whatever the thread had (another library's context, or
 * none); nested and repeated entries change nothing; a refused switch leaves the thread as it was.
 */
class PrimaryContextTest {

    private static final DeviceInfo GPU = new DeviceInfo(
            DeviceInfo.Kind.GPU,
            "NVIDIA A100",
            1,
            "0000:3b:00.0",
            ComputeCapability.SM80,
            40L << 30,
            39L << 30,
            108,
            48 * 1024,
            12060,
            false);

    /** A context handle told apart by identity (JCuda's handles compare their native pointers). */
    private static final class Handle extends CUcontext {
        private final String name;

        Handle(String name) {
            this.name = name;
        }

        @Override
        public boolean equals(Object o) {
            return this == o;
        }

        @Override
        public int hashCode() {
            return System.identityHashCode(this);
        }

        @Override
        public String toString() {
            return name;
        }
    }

    /** What the driver reports on a thread with no current context. */
    private static final Handle NONE = new Handle("none");

    /** Answers as a driver would, records each call, and fails the one named in {@code failing}. */
    private static final class RecordingDriver implements PrimaryContext.Driver {
        final List<String> calls = new ArrayList<>();
        final int flags;
        final boolean active;
        String failing;
        final Handle primary = new Handle("primary");
        final ThreadLocal<CUcontext> current = ThreadLocal.withInitial(() -> NONE);

        RecordingDriver(int flags, boolean active, String failing) {
            this.flags = flags;
            this.active = active;
            this.failing = failing;
        }

        private int answer(String call) {
            calls.add(call);
            return call.startsWith(failing) ? CudaResults.INVALID_VALUE : CudaResults.SUCCESS;
        }

        @Override
        public int init() {
            return answer("init");
        }

        @Override
        public int deviceGet(CUdevice device, int ordinal) {
            return answer("deviceGet " + ordinal);
        }

        @Override
        public int primaryCtxGetState(CUdevice device, int[] f, int[] a) {
            f[0] = flags;
            a[0] = active ? 1 : 0;
            return answer("getState");
        }

        @Override
        public int primaryCtxSetFlags(CUdevice device, int f) {
            return answer("setFlags " + f);
        }

        @Override
        public int primaryCtxRetain(CUcontext[] out, CUdevice device) {
            out[0] = primary;
            return answer("retain");
        }

        @Override
        public int primaryCtxRelease(CUdevice device) {
            return answer("release");
        }

        @Override
        public int ctxGetCurrent(CUcontext[] out) {
            out[0] = current.get();
            return answer("getCurrent");
        }

        @Override
        public int ctxSetCurrent(CUcontext context) {
            int r = answer("setCurrent " + context);
            if (r == CudaResults.SUCCESS) {
                current.set(context);
            }
            return r;
        }
    }

    @Test
    void blockingSyncIsSetBeforeTheFirstRetainKeepingTheOtherFlags() {
        int lmemResize = CUctx_flags.CU_CTX_LMEM_RESIZE_TO_MAX;
        RecordingDriver d = new RecordingDriver(CUctx_flags.CU_CTX_SCHED_SPIN | lmemResize, false, "none");
        PrimaryContext.retain(GPU, d);
        int want = CUctx_flags.CU_CTX_SCHED_BLOCKING_SYNC | lmemResize;
        assertEquals(List.of("init", "deviceGet 1", "getState", "setFlags " + want, "retain"), d.calls);
    }

    @Test
    void aContextAnotherLibraryHoldsKeepsItsFlags() {
        RecordingDriver d = new RecordingDriver(CUctx_flags.CU_CTX_SCHED_SPIN, true, "none");
        PrimaryContext.retain(GPU, d);
        assertEquals(List.of("init", "deviceGet 1", "getState", "retain"), d.calls);
    }

    @Test
    void aRefusedFlagChangeStopsBeforeTheRetainNamingTheCall() {
        RecordingDriver d = new RecordingDriver(0, false, "setFlags");
        CudaException e = assertThrows(CudaException.class, () -> PrimaryContext.retain(GPU, d));
        assertTrue(e.getMessage().contains("cuDevicePrimaryCtxSetFlags(CU_CTX_SCHED_BLOCKING_SYNC)"), e.getMessage());
        assertTrue(e.getMessage().contains(GPU.label()), e.getMessage());
        assertEquals("setFlags " + CUctx_flags.CU_CTX_SCHED_BLOCKING_SYNC, d.calls.get(d.calls.size() - 1));
    }

    @Test
    void enteringOnAThreadWithoutAContextLeavesItWithoutOne() {
        RecordingDriver d = new RecordingDriver(0, false, "none");
        PrimaryContext c = PrimaryContext.retain(GPU, d);
        d.calls.clear();
        try (PrimaryContext.Scope s = c.enter()) {
            assertSame(d.primary, d.current.get());
        }
        assertSame(NONE, d.current.get());
        assertEquals(List.of("getCurrent", "setCurrent primary", "setCurrent none"), d.calls);
    }

    @Test
    void anotherLibrarysContextIsCurrentAgainAfterTheScope() {
        RecordingDriver d = new RecordingDriver(0, false, "none");
        PrimaryContext c = PrimaryContext.retain(GPU, d);
        Handle theirs = new Handle("rapids");
        d.current.set(theirs);
        try (PrimaryContext.Scope s = c.enter()) {
            assertSame(d.primary, d.current.get());
            try (PrimaryContext.Scope inner = c.enter()) {
                assertSame(d.primary, d.current.get());
            }
            assertSame(d.primary, d.current.get(), "an inner scope leaves the outer one's context");
        }
        assertSame(theirs, d.current.get());
    }

    @Test
    void enteringWhereTheContextIsAlreadyCurrentSwitchesNothing() {
        RecordingDriver d = new RecordingDriver(0, false, "none");
        PrimaryContext c = PrimaryContext.retain(GPU, d);
        d.current.set(d.primary);
        d.calls.clear();
        try (PrimaryContext.Scope s = c.enter()) {
            assertSame(d.primary, d.current.get());
        }
        assertSame(d.primary, d.current.get());
        assertEquals(List.of("getCurrent"), d.calls);
    }

    @Test
    void eachThreadGetsItsOwnPreviousContextBack() throws Exception {
        RecordingDriver d = new RecordingDriver(0, false, "none");
        PrimaryContext c = PrimaryContext.retain(GPU, d);
        Handle theirs = new Handle("torch");
        d.current.set(theirs);
        CUcontext[] seen = new CUcontext[2];
        Thread other = new Thread(() -> {
            try (PrimaryContext.Scope s = c.enter()) {
                seen[0] = d.current.get();
            }
            seen[1] = d.current.get();
        });
        try (PrimaryContext.Scope s = c.enter()) {
            other.start();
            other.join();
        }
        assertSame(d.primary, seen[0]);
        assertSame(NONE, seen[1], "the other thread had no context");
        assertSame(theirs, d.current.get());
    }

    @Test
    void aRefusedSwitchLeavesTheThreadAsItWasAndNamesTheCall() {
        RecordingDriver d = new RecordingDriver(0, false, "none");
        PrimaryContext c = PrimaryContext.retain(GPU, d);
        Handle theirs = new Handle("rapids");
        d.current.set(theirs);
        d.failing = "setCurrent primary";
        CudaException e = assertThrows(CudaException.class, c::enter);
        assertTrue(e.getMessage().contains("cuCtxSetCurrent"), e.getMessage());
        assertSame(theirs, d.current.get());
    }

    @Test
    void closeReleasesThePrimaryContextOnce() {
        RecordingDriver d = new RecordingDriver(0, false, "none");
        PrimaryContext c = PrimaryContext.retain(GPU, d);
        d.calls.clear();
        c.close();
        c.close();
        assertEquals(List.of("release"), d.calls);
    }
}

package dev.attune.kernels.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
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
 * The order of the driver calls that open a primary context (no GPU here: a recording stand-in
 * for the driver answers them): blocking synchronisation is set before the first retain, other
 * flags kept and the previous scheduling mode replaced; a context another library already holds
 * keeps its flags; a refused flag change stops before the retain, naming the call.
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

    /** Answers as a driver would, records each call, and fails the one named in {@code failing}. */
    private static final class RecordingDriver implements PrimaryContext.Driver {
        final List<String> calls = new ArrayList<>();
        final int flags;
        final boolean active;
        final String failing;

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
        public int primaryCtxRetain(CUcontext context, CUdevice device) {
            return answer("retain");
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
}

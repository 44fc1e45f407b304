package dev.attune.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.attune.kernels.device.ComputeCapability;
import dev.attune.kernels.device.DeviceInfo;
import dev.attune.kernels.select.AttentionPath;
import dev.attune.kernels.select.UserOverrides;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;

/** Which real GPUs get the CUDA backend, and the reason given when one is served by the CPU. */
class GpuRunnersTest {

    private static final DeviceInfo A100 = GpuDeviceRunnerTest.A100;

    private static DeviceInfo withDriver(DeviceInfo d, int driver) {
        return new DeviceInfo(
                d.kind(),
                d.name(),
                d.ordinal(),
                d.pciBusId(),
                d.capability(),
                d.totalMemory(),
                d.freeMemory(),
                d.multiprocessors(),
                d.sharedMemoryPerBlock(),
                driver,
                false);
    }

    /** A GPU work that is never run: serving only decides and opens. */
    private static final class Unused implements GpuForward {
        final AtomicBoolean closed = new AtomicBoolean();

        @Override
        public float[] forward(
                dev.attune.model.EncoderModel m,
                dev.attune.model.bert.TokenBatch b,
                dev.attune.kernels.select.AttentionChoice c) {
            throw new AssertionError("not run here");
        }

        @Override
        public void trimPool() {}

        @Override
        public void retire(dev.attune.model.EncoderModel m, dev.attune.kernels.select.ComputeDtype d) {
            throw new AssertionError("not run here");
        }

        @Override
        public void close() {
            closed.set(true);
        }
    }

    @Test
    void aGpuWhoseBackendOpensComputesOnIt() {
        Unused gpu = new Unused();
        GpuRunners.Served s = GpuRunners.serve(A100, UserOverrides.NONE, 0.9, d -> gpu);
        assertEquals(GpuRunners.CUDA, s.note());
        assertInstanceOf(GpuDeviceRunner.class, s.runner());
        assertEquals(A100, s.runner().device());
        s.runner().close();
        assertTrue(gpu.closed.get(), "the runner owns the backend");
    }

    @Test
    void anOldDriverIsServedByTheCpuWithTheReason() {
        GpuRunners.Served s = GpuRunners.serve(withDriver(A100, 8000), UserOverrides.NONE, 0.9, d -> {
            throw new AssertionError("no backend is opened for a driver the PTX does not load on");
        });
        assertInstanceOf(DeviceRunner.class, s.runner());
        assertFalse(s.runner().device().isGpu());
        assertTrue(s.note().contains("driver 8.0 is older than CUDA 9.0"), s.note());
        assertTrue(s.note().endsWith("served by the CPU"), s.note());
    }

    @Test
    void anOldArchitectureIsServedByTheCpu() {
        DeviceInfo k80 = new DeviceInfo(
                DeviceInfo.Kind.GPU,
                "Tesla K80",
                0,
                "",
                new ComputeCapability(3, 7),
                12L << 30,
                11L << 30,
                13,
                48 * 1024,
                13000,
                false);
        GpuRunners.Served s = GpuRunners.serve(k80, UserOverrides.NONE, 0.9, d -> new Unused());
        assertInstanceOf(DeviceRunner.class, s.runner());
        assertTrue(s.note().contains("sm_60 and newer"), s.note());
    }

    @Test
    void aBackendThatFailsToOpenIsServedByTheCpuWithTheReason() {
        GpuRunners.Served s = GpuRunners.serve(A100, UserOverrides.NONE, 0.9, d -> {
            throw new UnsatisfiedLinkError("libcuda.so.1: cannot open shared object file");
        });
        assertInstanceOf(DeviceRunner.class, s.runner());
        assertTrue(s.note().startsWith("CUDA backend failed to open: "), s.note());
        assertTrue(s.note().contains("libcuda.so.1"), s.note());
    }

    @Test
    void aConfigurationWithNoGpuPathLeavesTheGpuToTheCpu() {
        UserOverrides none = UserOverrides.exclude(
                AttentionPath.FLASH_SM80, AttentionPath.FLASH_SM75, AttentionPath.MEM_EFFICIENT, AttentionPath.MATH);
        assertTrue(GpuRunners.whyNoGpuPath(A100, none).orElseThrow().contains("excludes every GPU attention path"));
        assertTrue(GpuRunners.whyNoGpuPath(A100, UserOverrides.force(AttentionPath.CPU_FLASH))
                .orElseThrow()
                .contains("cpu-flash"));
        assertTrue(GpuRunners.whyNoGpuPath(A100, UserOverrides.exclude(AttentionPath.FLASH_SM80))
                .isEmpty());
    }
}

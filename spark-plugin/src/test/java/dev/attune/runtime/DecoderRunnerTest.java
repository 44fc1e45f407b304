package dev.attune.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.attune.kernels.select.UserOverrides;
import dev.attune.runtime.metrics.AttuneMetrics;
import dev.attune.spark.conf.AttuneConf;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Semaphore;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Which runner decoder work gets on each kind of slot: the CPU's and a simulated device's own
 * runner; for a real GPU on the CUDA backend (decoders have no CUDA kernels yet), a CPU runner
 * with the reason, made once per slot.
 */
class DecoderRunnerTest {

    @AfterEach
    void stop() {
        AttuneRuntime.stop();
    }

    @Test
    void cpuAndSimulatedSlotsUseTheirOwnRunner() {
        AttuneRuntime rt = AttuneRuntime.start(
                "1",
                AttuneConf.parse(Map.of(AttuneConf.SIMULATE_DEVICES.key(), "*=T4")),
                List.of(),
                AttuneMetrics.detached());
        DeviceSlot t4 = rt.slots().get(0);
        AttuneRuntime.DecoderRunner d = rt.decoderRunner(t4);
        assertSame(t4.runner(), d.runner());
        assertTrue(d.runner().device().simulated());
        assertEquals("simulated", d.note());
    }

    @Test
    void aRealGpuComputesDecodersOnTheCpuAndSaysWhy() {
        AttuneRuntime rt = AttuneRuntime.start("1", AttuneConf.parse(Map.of()), List.of(), AttuneMetrics.detached());
        GpuDeviceRunnerTest.FakeGpu gpu = new GpuDeviceRunnerTest.FakeGpu(c -> null);
        DeviceSlot a100 = new DeviceSlot(
                GpuDeviceRunnerTest.A100,
                GpuDeviceRunnerTest.runner(gpu, UserOverrides.NONE),
                new Semaphore(2),
                GpuRunners.CUDA);
        AttuneRuntime.DecoderRunner d = rt.decoderRunner(a100);
        assertFalse(d.runner().device().isGpu(), "decoder work runs on the CPU");
        assertTrue(
                d.note().contains("no CUDA kernels") && d.note().contains(GpuDeviceRunnerTest.A100.label()), d.note());
        assertSame(d, rt.decoderRunner(a100), "made once per slot");
        assertTrue(gpu.calls.isEmpty(), "nothing ran on the GPU");
    }
}

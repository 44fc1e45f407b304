package dev.attune.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.attune.runtime.metrics.AttuneMetrics;
import dev.attune.spark.conf.AttuneConf;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The runtime's devices: simulated per executor id, the CPU otherwise, and a task's GPU address
 * (else its partition) to its slot.
 */
class AttuneRuntimeTest {

    @AfterEach
    void stop() {
        AttuneRuntime.stop();
    }

    @Test
    void simulatedDevicesPerExecutorAndAddressesToSlots() {
        AttuneRuntime rt = AttuneRuntime.start(
                "7",
                AttuneConf.parse(Map.of(AttuneConf.SIMULATE_DEVICES.key(), "7=T4+A100,*=V100")),
                List.of(),
                AttuneMetrics.detached());
        assertEquals(2, rt.slots().size());
        assertEquals("Tesla T4 (simulated)", rt.slotForAddress("0").device().label());
        assertEquals(
                "NVIDIA A100-SXM4-40GB (simulated)",
                rt.slotForAddress("1").device().label());
        assertNull(rt.slotForAddress("5"), "an address that matches no device of this executor");
        assertEquals(rt.slots().get(1), rt.slotFor(new TaskPlacement("1", 0)), "the task's GPU");
        assertEquals(rt.slots().get(1), rt.slotFor(new TaskPlacement(null, 3)), "no GPU assigned: by partition");
        assertEquals(rt.slots().get(1), rt.slotFor(new TaskPlacement("5", 3)), "an unknown GPU: by partition");
        assertEquals(rt.slots().get(0), rt.slotFor(TaskPlacement.NONE), "outside a task: the first device");
        assertEquals(rt.slots().get(0), rt.slotFor(null), "outside a task: the first device");
        for (DeviceSlot slot : rt.slots()) {
            // Planners give each of the slot's tasks its share of the device's memory.
            assertEquals(
                    rt.settings().gpuConcurrentTasks(),
                    ((DeviceRunner) slot.runner()).concurrentTasks(),
                    slot.device().label());
        }
        AttuneRuntime other = AttuneRuntime.start(
                "8",
                AttuneConf.parse(Map.of(AttuneConf.SIMULATE_DEVICES.key(), "7=T4+A100,*=V100")),
                List.of(),
                AttuneMetrics.detached());
        assertEquals(
                List.of("Tesla V100-SXM2-16GB (simulated)"),
                other.slots().stream().map(s -> s.device().label()).toList(),
                "the * entry serves other executors");
    }

    @Test
    void anExecutorTheSimulationDoesNotNameIsWarnedAboutNotSilentlyRunOnItsRealDevices() {
        // Executors 0 and 1 are simulated; executor 2 (say, the replacement of a lost one) is not named.
        AttuneRuntime rt = AttuneRuntime.start(
                "2",
                AttuneConf.parse(Map.of(AttuneConf.SIMULATE_DEVICES.key(), "0=T4,1=A100")),
                List.of(),
                AttuneMetrics.detached());
        assertEquals("cpu", rt.slots().get(0).device().label(), "no GPU on this machine: the real device is the CPU");
        String note = rt.inventory().probeNote();
        assertTrue(
                note.contains("executor 2 is not in spark.attune.simulate.devices (it names [0, 1]")
                        && note.contains("add a '*=NAME' entry"),
                note);
        assertTrue(AttuneRuntime.uncoveredBySimulation("1", Map.of("1", List.of("A100")))
                .isEmpty());
        assertTrue(AttuneRuntime.uncoveredBySimulation("9", Map.of("1", List.of("A100"), "*", List.of("T4")))
                .isEmpty());
        assertTrue(AttuneRuntime.uncoveredBySimulation("9", Map.of()).isEmpty(), "nothing simulated: nothing to say");
    }

    @Test
    void withoutGpusTheCpuAndTheProbesReason() {
        AttuneRuntime rt = AttuneRuntime.start("1", AttuneConf.parse(Map.of()), List.of(), AttuneMetrics.detached());
        assertEquals(1, rt.slots().size());
        assertEquals("cpu", rt.slots().get(0).device().label());
        assertEquals(1, ((DeviceRunner) rt.slots().get(0).runner()).concurrentTasks(), "the CPU plans for one task");
        if (!rt.inventory().probeNote().isEmpty()) {
            assertTrue(rt.inventory().probeNote().startsWith("no GPU")
                    || rt.inventory().probeNote().contains("cuda"));
        }
        assertEquals(1, rt.cpuThreads(), "spark.task.cpus defaults to 1");
        AttuneRuntime two = AttuneRuntime.start(
                "1", AttuneConf.parse(Map.of("spark.task.cpus", "2")), List.of(), AttuneMetrics.detached());
        assertEquals(2, two.cpuThreads(), "a task uses the cores Spark gave it");
    }

    @Test
    void fallbackCountersAreGaugesNextToTheOtherMetrics() {
        AttuneMetrics metrics = AttuneMetrics.detached();
        AttuneRuntime.start(
                "1", AttuneConf.parse(Map.of(AttuneConf.SIMULATE_DEVICES.key(), "*=T4+A100")), List.of(), metrics);
        AttuneRuntime rt = AttuneRuntime.start(
                "1", AttuneConf.parse(Map.of(AttuneConf.SIMULATE_DEVICES.key(), "*=T4")), List.of(), metrics);
        assertEquals(List.of(RunnerCounters.NONE), rt.counters());
        assertEquals(0L, metrics.registry().getGauges().get("oomSplits").getValue());
        assertEquals(0L, metrics.registry().getGauges().get("pathFallbacks").getValue());
    }

    @Test
    void badConfigurationIsRefusedAtStart() {
        assertThrows(
                dev.attune.spark.conf.AttuneConfigException.class,
                () -> AttuneRuntime.start(
                        "1",
                        AttuneConf.parse(Map.of(AttuneConf.SIMULATE_DEVICES.key(), "1=Z80")),
                        List.of(),
                        AttuneMetrics.detached()));
    }
}

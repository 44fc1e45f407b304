package dev.attune.kernels.device;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * Runs only where a GPU and its driver are present:
 * {@code mvn -B test -pl kernels -Dattune.test.excludedGroups= -Dgroups=gpu}.
 */
@Tag("gpu")
class GpuProbeOnGpuTest {

    private static final long GIB = 1L << 30;

    @Test
    void findsAtLeastOneUsableGpu() {
        ProbeResult r = GpuProbe.probe(List.of());
        assertFalse(r.devices().isEmpty(), r.reason());
        for (DeviceInfo d : r.devices()) {
            assertTrue(d.isGpu(), d.toString());
            assertFalse(d.simulated(), d.toString());
            assertTrue(d.capability().atLeast(ComputeCapability.SM60), d.toString());
            assertTrue(d.totalMemory() >= 2 * GIB && d.totalMemory() <= 1024 * GIB, d.toString());
            assertTrue(d.freeMemory() > 0 && d.freeMemory() <= d.totalMemory(), d.toString());
            assertTrue(d.multiprocessors() > 0, d.toString());
            assertTrue(d.sharedMemoryPerBlock() >= 48 * 1024, d.toString());
            assertTrue(d.driverVersion() >= 12000, d.toString());
            assertTrue(d.pciBusId().matches("[0-9a-f]{4,8}:[0-9a-f]{2}:[0-9a-f]{2}\\.0"), d.pciBusId());
        }
    }

    @Test
    void selectsByBusIdAndOrdinalConsistently() {
        Map<String, String> env = System.getenv();
        ProbeResult all = GpuProbe.probe(List.of(), env);
        assertFalse(all.devices().isEmpty(), all.reason());
        DeviceInfo first = all.devices().get(0);
        ProbeResult byBus = GpuProbe.probe(List.of(first.pciBusId().toUpperCase()), env);
        assertEquals(1, byBus.devices().size(), byBus.reason());
        assertEquals(first.ordinal(), byBus.devices().get(0).ordinal());
        ProbeResult unknown = GpuProbe.probe(List.of("0000:ff:1f.7"), env);
        assertTrue(unknown.devices().isEmpty());
        assertTrue(unknown.reason().contains("0000:ff:1f.7"), unknown.reason());
    }
}

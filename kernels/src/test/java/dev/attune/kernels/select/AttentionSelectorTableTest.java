package dev.attune.kernels.select;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import dev.attune.kernels.attention.MaskKind;
import dev.attune.kernels.device.DeviceInfo;
import dev.attune.kernels.device.SimulatedDevices;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

/**
 * The selector over every simulated device (and the CPU) x model dtype x head_dim x mask kind,
 * against the decisions written out in {@code selector-table.txt} (rows of 512 tokens, so the
 * short-row math rule stays out of it; that rule has its own test). Simulated devices report a
 * CUDA 13.0 driver; the module requirements are the README table's ({@link KernelSupportFixture}).
 */
class AttentionSelectorTableTest {

    @TestFactory
    List<DynamicTest> everyDeviceDtypeHeadDimAndMask() throws Exception {
        List<DynamicTest> tests = new ArrayList<>();
        try (BufferedReader r = new BufferedReader(
                new InputStreamReader(getClass().getResourceAsStream("/selector-table.txt"), StandardCharsets.UTF_8))) {
            String line;
            while ((line = r.readLine()) != null) {
                if (line.isBlank() || line.startsWith("#")) {
                    continue;
                }
                String row = line;
                tests.add(DynamicTest.dynamicTest(row, () -> check(row)));
            }
        }
        assertEquals(11 * 3 * 9 * 3, tests.size(), "the table covers every combination");
        return tests;
    }

    private static void check(String row) {
        String[] lr = row.split("->");
        String[] in = lr[0].trim().split("\\s+");
        String[] out = lr[1].trim().split("\\s+");
        DeviceInfo device = in[0].equals("cpu") ? DeviceInfo.cpu() : SimulatedDevices.get(in[0], 0);
        AttentionRequest req = new AttentionRequest(
                ComputeDtype.parse(in[1]),
                12,
                Integer.parseInt(in[2]),
                8,
                512,
                MaskKind.valueOf(in[3].toUpperCase(Locale.ROOT)));
        AttentionChoice c =
                AttentionSelector.select(device, req, UserOverrides.NONE, KernelSupportFixture.README_TABLE, 0.9);
        assertEquals(out[0], c.path().id(), "path for " + row + " (reason: " + c.reason() + ")");
        assertEquals(out[1], c.dtype().id(), "dtype for " + row);
        assertFalse(c.reason().isBlank(), "every choice has a reason");
        assertEquals(512, c.queryChunk(), "no chunking for non-math paths");
    }
}

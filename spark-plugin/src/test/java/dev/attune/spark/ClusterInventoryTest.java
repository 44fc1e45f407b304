package dev.attune.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.attune.runtime.inventory.DeviceEntry;
import dev.attune.runtime.inventory.ExecutorInventory;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The cluster table is shown once: the driver's closing log line leaves out a table the scoring
 * job already printed, unless executors reported something new since; the per-report log line
 * names each device in a few words.
 */
class ClusterInventoryTest {

    private static ExecutorInventory executor(String id, String path) {
        DeviceEntry gpu =
                new DeviceEntry("Tesla T4 (simulated)", "7.5", true, 16L << 30, 15L << 30, path, "fp16", 256, "sm_75");
        return new ExecutorInventory(id, List.of(gpu), "builtin:all-MiniLM-L6-v2", 1, 1234L, 5678L, "simulated");
    }

    @AfterEach
    void reset() {
        ClusterInventory.clear();
    }

    @Test
    void aTableTheJobShowedIsNotLoggedAgainUnlessItChanged() {
        ClusterInventory.update(executor("1", "flash-sm75"));
        assertFalse(ClusterInventory.alreadyShown(ClusterInventory.table()), "nothing shown yet");
        String shown = ClusterInventory.showTable();
        assertTrue(shown.contains("flash-sm75"), shown);
        assertTrue(ClusterInventory.alreadyShown(ClusterInventory.table()));
        ClusterInventory.update(executor("2", "mem-efficient"));
        assertFalse(ClusterInventory.alreadyShown(ClusterInventory.table()), "a new executor since");
    }

    @Test
    void aReportLineNamesEachDeviceBriefly() {
        assertEquals(
                "Tesla T4 (simulated): flash-sm75 fp16, batch 256",
                ExecutorInventoryLines.devices(executor("1", "flash-sm75")));
    }
}

package dev.attune.spark;

import dev.attune.runtime.inventory.DeviceEntry;
import dev.attune.runtime.inventory.ExecutorInventory;
import java.util.stream.Collectors;

/** Short renderings of an executor's inventory for one log line. Stateless. */
final class ExecutorInventoryLines {

    private ExecutorInventoryLines() {}

    /** Each device as "label: path dtype, batch N", comma-separated. */
    static String devices(ExecutorInventory inv) {
        return inv.devices().stream().map(ExecutorInventoryLines::device).collect(Collectors.joining(", "));
    }

    private static String device(DeviceEntry d) {
        return d.label() + ": " + d.path() + " " + d.dtype() + ", batch " + d.batchRows();
    }
}

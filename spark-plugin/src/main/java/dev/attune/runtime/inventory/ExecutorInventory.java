package dev.attune.runtime.inventory;

import java.io.Serializable;
import java.util.List;

/**
 * What an executor reports to the driver when it starts and whenever its model loads change:
 * its devices with their plans, the model and how many times this JVM loaded it, load time and
 * heap in use.
 *
 * @param executorId       Spark's executor id ("driver" in local mode)
 * @param devices          devices and their plans
 * @param model            the configured model string
 * @param modelLoads       times this JVM loaded that model (1 once loaded; never more)
 * @param modelLoadMillis  duration of the last load, or 0
 * @param heapUsedBytes    JVM heap in use when reported
 * @param probeNote        what the GPU probe said (why no GPU was found, simulated devices, ...)
 */
public record ExecutorInventory(
        String executorId,
        List<DeviceEntry> devices,
        String model,
        int modelLoads,
        long modelLoadMillis,
        long heapUsedBytes,
        String probeNote)
        implements Serializable {

    public ExecutorInventory {
        devices = List.copyOf(devices);
    }
}

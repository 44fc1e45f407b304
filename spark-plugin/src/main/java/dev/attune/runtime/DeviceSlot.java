package dev.attune.runtime;

import dev.attune.kernels.device.DeviceInfo;
import java.util.concurrent.Semaphore;

/**
 * One device of an executor with its runner and the permits that bound how many tasks use it
 * at once ({@code spark.attune.gpu.concurrentTasks}; the CPU is bounded by Spark's own cores).
 *
 * @param device   the device the tasks compute on
 * @param runner   runs batches there: the CPU's or a simulated device's {@link DeviceRunner}, or a real
 *                 GPU's {@link GpuDeviceRunner}
 * @param permits  task slots
 * @param note     why this device is used as it is (for example a real GPU served by the CPU)
 */
public record DeviceSlot(DeviceInfo device, BatchRunner runner, Semaphore permits, String note) {}

package dev.attune.kernels.device;

import java.util.Objects;

/**
 * A device as the driver lists it, before Attune picks the ones it was given: its description
 * and its UUID, which Spark may use as the device's address but which {@link DeviceInfo} does not
 * carry.
 *
 * @param info description; {@code info.freeMemory()} is a placeholder (equal to the total) until
 *             the device is selected and measured
 * @param uuid "GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" with lower-case hex, or "" where unknown
 *             (simulated devices). Read with {@code cuDeviceGetUuid}, the only form JCuda 12.6
 *             binds; for a MIG instance that is not the {@code "MIG-..."} UUID nvidia-smi and
 *             NVML report (only {@code cuDeviceGetUuid_v2} returns that), so MIG addresses are
 *             matched through {@code CUDA_VISIBLE_DEVICES} instead (see {@link DeviceSelection}).
 *             A "MIG-..." value given here (a stand-in, a future binding) matches as any UUID.
 */
public record DriverDevice(DeviceInfo info, String uuid) {

    public DriverDevice {
        Objects.requireNonNull(info, "info");
        uuid = uuid == null ? "" : GpuAddress.normalizeUuid(uuid);
    }

    /** A device without a UUID, e.g. a simulated one. */
    public static DriverDevice of(DeviceInfo info) {
        return new DriverDevice(info, "");
    }
}

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
 *             (simulated devices)
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

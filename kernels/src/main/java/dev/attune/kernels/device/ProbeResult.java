package dev.attune.kernels.device;

import java.util.List;

/**
 * What a GPU probe found: the usable devices and, when there are none or some were left out,
 * why, in words a person can act on ("no NVIDIA driver: libcuda.so.1 not found in ...").
 */
public record ProbeResult(List<DeviceInfo> devices, String reason) {

    public ProbeResult {
        devices = List.copyOf(devices);
        reason = reason == null ? "" : reason;
    }

    public static ProbeResult none(String reason) {
        return new ProbeResult(List.of(), reason);
    }
}

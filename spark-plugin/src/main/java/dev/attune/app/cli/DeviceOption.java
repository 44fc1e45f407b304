package dev.attune.app.cli;

import dev.attune.kernels.device.DeviceInfo;
import dev.attune.kernels.device.GpuProbe;
import dev.attune.kernels.device.ProbeResult;
import dev.attune.kernels.device.SimulatedDevices;
import java.io.PrintStream;
import java.util.List;

/**
 * {@code --device cpu|auto|simulate:NAME}: the device a command computes on. {@code auto} probes
 * the GPUs and takes the first one visible (the CPU when there is none).
 */
final class DeviceOption {

    private DeviceOption() {}

    static DeviceInfo resolve(String spec, PrintStream err) {
        String s = spec.trim();
        if (s.equals("cpu")) {
            return DeviceInfo.cpu();
        }
        if (s.startsWith("simulate:")) {
            try {
                return SimulatedDevices.get(s.substring("simulate:".length()), 0);
            } catch (IllegalArgumentException e) {
                throw new CliArgs.UsageException("--device " + spec + ": " + e.getMessage());
            }
        }
        if (s.equals("auto")) {
            ProbeResult probe = GpuProbe.probe(List.of());
            if (probe.devices().isEmpty()) {
                err.println("attune: no GPU (" + probe.reason() + "): using the CPU");
                return DeviceInfo.cpu();
            }
            return probe.devices().get(0);
        }
        throw new CliArgs.UsageException("--device must be cpu, auto or simulate:NAME (NAME one of "
                + String.join(", ", SimulatedDevices.names()) + "), got '" + spec + "'");
    }
}

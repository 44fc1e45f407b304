package dev.attune.kernels.select;

import dev.attune.kernels.device.ComputeCapability;

/**
 * What loading one shipped PTX module asks of a device: a GPU at least as new as the module's
 * {@code .target} and a driver whose JIT accepts its PTX ISA version.
 *
 * @param module           the module's name, e.g. {@code flash_sm80}
 * @param target           the module's {@code .target} as a compute capability
 * @param minDriverVersion oldest CUDA driver API version (e.g. 11000 for 11.0) that loads it
 */
public record ModuleRequirement(String module, ComputeCapability target, int minDriverVersion) {

    public ModuleRequirement {
        if (module == null || module.isBlank()) {
            throw new IllegalArgumentException("a module requirement needs a module name");
        }
        if (target == null) {
            throw new IllegalArgumentException("module " + module + " needs a target");
        }
        if (minDriverVersion <= 0) {
            throw new IllegalArgumentException(
                    "module " + module + ": driver version must be positive, got " + minDriverVersion);
        }
    }
}

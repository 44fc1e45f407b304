package dev.attune.kernels.select;

import dev.attune.kernels.device.ComputeCapability;
import java.util.List;

/**
 * The module requirements of kernels/src/main/cuda/README.md's table, as fixed numbers: selector
 * tests decide against these rather than against whatever PTX the build at hand ships, so they
 * test the selector and not the build (the PTX tests hold the build to the table).
 */
final class KernelSupportFixture {

    static final KernelSupport README_TABLE = KernelSupport.of(List.of(
            new ModuleRequirement("flash_sm80", ComputeCapability.SM80, 11000),
            new ModuleRequirement("flash_sm75", ComputeCapability.SM75, 10020),
            new ModuleRequirement("mem_efficient", ComputeCapability.SM60, 9000),
            new ModuleRequirement("math_attention", ComputeCapability.SM60, 9000),
            new ModuleRequirement("gemm_sm80", ComputeCapability.SM80, 11000),
            new ModuleRequirement("gemm_sm75", ComputeCapability.SM75, 10020),
            new ModuleRequirement("gemm_simt", ComputeCapability.SM60, 9000),
            new ModuleRequirement("encoder_ops", ComputeCapability.SM60, 9000)));

    private KernelSupportFixture() {}
}

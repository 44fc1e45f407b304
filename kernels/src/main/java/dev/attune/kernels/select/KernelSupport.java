package dev.attune.kernels.select;

import dev.attune.kernels.device.ComputeCapability;

/**
 * What the shipped GPU code can run on: the oldest compute capability its CUDA-core (SIMT)
 * kernels are built for and the oldest driver that loads its PTX. The selector treats a GPU
 * outside these bounds as unable to run any GPU path and falls to the CPU paths, saying why.
 *
 * @param simtMinCapability oldest GPU the mem-efficient and math kernels run on
 * @param minDriverVersion  oldest CUDA driver API version (e.g. 13000) that accepts the PTX
 */
public record KernelSupport(ComputeCapability simtMinCapability, int minDriverVersion) {

    /**
     * The kernels this build ships: PTX ISA 9.0 (CUDA 13 toolchain), so drivers of CUDA 13.0
     * (R580) or newer; SIMT kernels targeted at sm_60 so P100 and V100 run mem-efficient.
     */
    public static final KernelSupport SHIPPED = new KernelSupport(ComputeCapability.SM60, 13000);

    public static String driverString(int v) {
        return (v / 1000) + "." + (v % 1000) / 10;
    }
}

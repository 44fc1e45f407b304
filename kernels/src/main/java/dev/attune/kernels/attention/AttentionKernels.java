package dev.attune.kernels.attention;

import dev.attune.kernels.device.DeviceInfo;
import dev.attune.kernels.select.AttentionChoice;

/**
 * The CPU-memory kernel that carries out a selector's choice: the CPU paths themselves, or, for
 * a simulated GPU, the GPU path's algorithm under the device's precision. Real GPUs are served by
 * the CUDA backend, not here.
 */
public final class AttentionKernels {

    private static final CpuFlashAttention CPU_FLASH = new CpuFlashAttention();
    private static final CpuMathAttention CPU_MATH = new CpuMathAttention();

    private AttentionKernels() {}

    public static AttentionKernel onCpuMemory(DeviceInfo device, AttentionChoice choice) {
        return switch (choice.path()) {
            case CPU_FLASH -> CPU_FLASH;
            case CPU_MATH -> CPU_MATH;
            default -> {
                if (device.isGpu() && !device.simulated()) {
                    throw new IllegalStateException(
                            choice.path() + " on " + device.label() + " runs on the CUDA backend");
                }
                yield new SimulatedGpuAttention(choice.path(), choice.dtype());
            }
        };
    }
}

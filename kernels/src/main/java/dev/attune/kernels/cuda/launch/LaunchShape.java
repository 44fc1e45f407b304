package dev.attune.kernels.cuda.launch;

/**
 * How one kernel is launched: grid, threads per block and dynamic shared memory. Pure numbers, no
 * JCuda, so the shapes are tested on machines without a GPU.
 *
 * @param kernel      the PTX entry name, e.g. {@code flash_sm80_fwd_f16_d64}
 * @param gridX       blocks along x
 * @param gridY       blocks along y
 * @param gridZ       blocks along z
 * @param block       threads per block (one dimension; must equal the kernel's {@code __launch_bounds__})
 * @param sharedBytes dynamic shared memory per block, bytes
 */
public record LaunchShape(String kernel, int gridX, int gridY, int gridZ, int block, int sharedBytes) {

    public LaunchShape {
        if (kernel == null || kernel.isBlank()) {
            throw new IllegalArgumentException("a launch needs a kernel name");
        }
        if (gridX < 1 || gridY < 1 || gridZ < 1 || block < 1 || sharedBytes < 0) {
            throw new IllegalArgumentException("invalid launch of " + kernel + ": grid (" + gridX + ", " + gridY + ", "
                    + gridZ + "), block " + block + ", shared " + sharedBytes + " bytes");
        }
        if (gridY > 65535 || gridZ > 65535) {
            throw new IllegalArgumentException(
                    "launch of " + kernel + ": grid y and z are limited to 65535, got (" + gridY + ", " + gridZ + ")");
        }
    }

    /** The suffix kernels carry for an element type: {@code f32}, {@code f16}, {@code bf16}. */
    public static String suffix(dev.attune.kernels.select.ComputeDtype dtype) {
        return switch (dtype) {
            case FP32 -> "f32";
            case FP16 -> "f16";
            case BF16 -> "bf16";
        };
    }

    public static int ceilDiv(long a, int b) {
        return (int) ((a + b - 1) / b);
    }
}

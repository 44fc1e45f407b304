package dev.attune.kernels.cuda.launch;

import dev.attune.kernels.select.ComputeDtype;

/**
 * Tile traits of {@code mem_efficient.cu}: online softmax on CUDA cores for any head dimension,
 * kernels {@code mem_efficient_fwd_<f32|f16|bf16>}. A block of 128 threads owns BLOCK_M = 16
 * queries; it walks the row's keys in tiles of BLOCK_N = 32, 16 or 8 rows as the head dimension
 * grows past 64 and 128. Shared memory holds, in fp32, the scaled Q tile and one K tile (rows
 * padded to an odd stride against bank conflicts), the output accumulator and one V tile, the
 * probability tile, and two floats per query (the rescale of the current tile and the final
 * 1 / denominator).
 *
 * <p>The shared memory grows with the head dimension and is not bounded here: the caller checks
 * {@link #sharedBytes} against the device's shared memory per block, and opts the kernel in to
 * more than 48 KB where the device allows it. Head dimensions up to 252 fit 48 KB (every GPU),
 * up to 337 fit the 64 KB of sm_75.
 */
public final class MemEfficientLaunch implements AttentionLaunch {

    public static final MemEfficientLaunch INSTANCE = new MemEfficientLaunch();

    static final int THREADS = 128;
    static final int BLOCK_M = 16;

    private MemEfficientLaunch() {}

    /** Key rows per tile; {@code dispatch} in the CUDA source makes the same choice. */
    static int blockN(int headDim) {
        return headDim <= 64 ? 32 : headDim <= 128 ? 16 : 8;
    }

    /** Row stride, in floats, of the Q and K tiles: head_dim rounded up to an odd number. */
    static int qkStride(int headDim) {
        return headDim | 1;
    }

    @Override
    public String module() {
        return "mem_efficient";
    }

    @Override
    public boolean supports(ComputeDtype dtype, int headDim) {
        return headDim >= 1;
    }

    /**
     * Dynamic shared memory of one block, bytes.
     *
     * @throws IllegalArgumentException if {@code headDim < 1}
     * @throws ArithmeticException if the figure overflows an int (a head dimension no GPU could hold)
     */
    public static int sharedBytes(int headDim) {
        if (headDim < 1) {
            throw new IllegalArgumentException("mem-efficient needs head_dim >= 1, got " + headDim);
        }
        long n = blockN(headDim);
        long floats = (BLOCK_M + n) * qkStride(headDim) // q, k
                + (BLOCK_M + n) * headDim // o, v
                + BLOCK_M * n // p
                + 2L * BLOCK_M; // alpha, inv_l
        return Math.toIntExact(Float.BYTES * floats);
    }

    @Override
    public LaunchShape shape(ComputeDtype dtype, int headDim, int heads, int batch, int maxSeqlen) {
        if (!supports(dtype, headDim)) {
            throw new IllegalArgumentException("mem-efficient needs head_dim >= 1, got " + headDim);
        }
        return new LaunchShape(
                "mem_efficient_fwd_" + LaunchShape.suffix(dtype),
                LaunchShape.ceilDiv(maxSeqlen, BLOCK_M),
                heads,
                batch,
                THREADS,
                sharedBytes(headDim));
    }
}

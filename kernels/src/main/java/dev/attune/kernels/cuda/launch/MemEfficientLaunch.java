package dev.attune.kernels.cuda.launch;

import dev.attune.kernels.select.ComputeDtype;

/**
 * Tile traits of {@code mem_efficient.cu}: online softmax on CUDA cores for any head dimension,
 * kernels {@code mem_efficient_fwd_<f32|f16|bf16>}. A block of 128 threads owns BLOCK_M = 16
 * queries; it walks the row's keys in tiles of BLOCK_N. Shared memory holds, in fp32, the scaled
 * Q tile, the output accumulator, one K and one V tile, the score tile, and the running max and
 * sum per query. The caller checks the total against the device's shared memory per block.
 */
public final class MemEfficientLaunch implements AttentionLaunch {

    public static final MemEfficientLaunch INSTANCE = new MemEfficientLaunch();

    static final int THREADS = 128;
    static final int BLOCK_M = 16;

    private MemEfficientLaunch() {
    }

    static int blockN(int headDim) {
        return headDim <= 64 ? 32 : 16;
    }

    @Override
    public String module() {
        return "mem_efficient";
    }

    @Override
    public boolean supports(ComputeDtype dtype, int headDim) {
        return headDim >= 1;
    }

    /** Dynamic shared memory of one block, bytes. */
    public static int sharedBytes(int headDim) {
        int n = blockN(headDim);
        return 4 * (2 * BLOCK_M * headDim + 2 * n * headDim + BLOCK_M * n + 2 * BLOCK_M);
    }

    @Override
    public LaunchShape shape(ComputeDtype dtype, int headDim, int heads, int batch, int maxSeqlen) {
        if (!supports(dtype, headDim)) {
            throw new IllegalArgumentException("mem-efficient needs head_dim >= 1, got " + headDim);
        }
        return new LaunchShape("mem_efficient_fwd_" + LaunchShape.suffix(dtype),
                LaunchShape.ceilDiv(maxSeqlen, BLOCK_M), heads, batch, THREADS, sharedBytes(headDim));
    }
}

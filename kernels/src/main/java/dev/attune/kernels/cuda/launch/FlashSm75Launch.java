package dev.attune.kernels.cuda.launch;

import dev.attune.kernels.select.ComputeDtype;

/**
 * Tile traits of {@code flash_sm75.cu}: the flash-sm80 algorithm on Turing instructions, 4 warps
 * of 16 query rows (BLOCK_M = 64), one stage of K and V in shared memory (no cp.async on sm75),
 * fp16 only, kernels {@code flash_sm75_fwd_f16_d<32..256>}. Every shape stays within the 64 KB a
 * T4 block may opt in to.
 */
public final class FlashSm75Launch implements AttentionLaunch {

    public static final FlashSm75Launch INSTANCE = new FlashSm75Launch();

    static final int THREADS = 128;
    static final int BLOCK_M = 64;
    /** The most dynamic shared memory a block may use on sm75. */
    static final int SM75_SHARED_LIMIT = 64 * 1024;

    private FlashSm75Launch() {}

    static int blockN(int paddedHeadDim) {
        return paddedHeadDim <= 128 ? 64 : 32;
    }

    @Override
    public String module() {
        return "flash_sm75";
    }

    @Override
    public boolean supports(ComputeDtype dtype, int headDim) {
        return dtype == ComputeDtype.FP16 && headDim >= 8 && headDim <= 256 && headDim % 8 == 0;
    }

    @Override
    public LaunchShape shape(ComputeDtype dtype, int headDim, int heads, int batch, int maxSeqlen) {
        if (!supports(dtype, headDim)) {
            throw new IllegalArgumentException("flash-sm75 has no kernel for " + dtype + " with head_dim " + headDim
                    + " (fp16 only, head_dim a multiple of 8 up to 256)");
        }
        int d = FlashSm80Launch.paddedHeadDim(headDim);
        int smem = 2 * (BLOCK_M * d + 2 * blockN(d) * d);
        return new LaunchShape(
                "flash_sm75_fwd_f16_d" + d, LaunchShape.ceilDiv(maxSeqlen, BLOCK_M), heads, batch, THREADS, smem);
    }
}

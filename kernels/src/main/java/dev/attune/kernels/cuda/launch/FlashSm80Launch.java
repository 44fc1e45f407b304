package dev.attune.kernels.cuda.launch;

import dev.attune.kernels.select.ComputeDtype;

/**
 * Tile traits of {@code flash_sm80.cu}: 4 warps of 16 query rows each (BLOCK_M = 64), key/value
 * tiles of BLOCK_N rows double-buffered with cp.async, head dimension padded up to a multiple of
 * 32 (kernels {@code flash_sm80_fwd_<f16|bf16>_d<32..256>}). Shared memory holds the Q tile and two
 * stages of K and V, unpadded (the kernel swizzles its 16-byte chunks instead of padding rows).
 */
public final class FlashSm80Launch implements AttentionLaunch {

    public static final FlashSm80Launch INSTANCE = new FlashSm80Launch();

    static final int THREADS = 128;
    static final int BLOCK_M = 64;
    static final int STAGES = 2;

    private FlashSm80Launch() {}

    /** The head dimension a kernel is compiled for: head_dim rounded up to a multiple of 32. */
    static int paddedHeadDim(int headDim) {
        return (headDim + 31) / 32 * 32;
    }

    static int blockN(int paddedHeadDim) {
        return paddedHeadDim <= 64 ? 128 : paddedHeadDim <= 128 ? 64 : 32;
    }

    @Override
    public String module() {
        return "flash_sm80";
    }

    @Override
    public boolean supports(ComputeDtype dtype, int headDim) {
        return dtype != ComputeDtype.FP32 && headDim >= 8 && headDim <= 256 && headDim % 8 == 0;
    }

    @Override
    public LaunchShape shape(ComputeDtype dtype, int headDim, int heads, int batch, int maxSeqlen) {
        if (!supports(dtype, headDim)) {
            throw new IllegalArgumentException("flash-sm80 has no kernel for " + dtype + " with head_dim " + headDim
                    + " (fp16 or bf16, head_dim a multiple of 8 up to 256)");
        }
        int d = paddedHeadDim(headDim);
        int smem = 2 * (BLOCK_M * d + STAGES * 2 * blockN(d) * d);
        return new LaunchShape(
                "flash_sm80_fwd_" + LaunchShape.suffix(dtype) + "_d" + d,
                LaunchShape.ceilDiv(maxSeqlen, BLOCK_M),
                heads,
                batch,
                THREADS,
                smem);
    }
}

package dev.attune.kernels.cuda.launch;

import dev.attune.kernels.select.ComputeDtype;

/**
 * Launch shapes of the GEMM kernels. Every variant computes
 * {@code c = epilogue(a · wᵀ + bias)} with fp32 accumulation:
 * <pre>
 * gemm_&lt;variant&gt;_&lt;dt&gt;(const T* a,    // (m, k) row-major activations
 *                      const T* w,    // (n, k) row-major weights, as a PyTorch Linear stores them
 *                      const T* bias, // (n), or null
 *                      T* c,          // (m, n) row-major
 *                      int m, int n, int k,
 *                      int epilogue)  // 0: none, 1: GELU (erf)
 * </pre>
 * on the grid {@code (ceil(n / BLOCK_N), ceil(m / BLOCK_M))}. The tensor-core variants need
 * {@code k} and {@code n} to be multiples of 8 (16-byte rows); any m.
 */
public final class GemmLaunch {

    public static final int EPILOGUE_NONE = 0;
    public static final int EPILOGUE_GELU = 1;

    private GemmLaunch() {
    }

    /** Tile of one block: BLOCK_M × BLOCK_N outputs, BLOCK_K deep per stage. */
    record Tile(int blockM, int blockN, int blockK, int threads, int stages, int elemBytes) {
        int sharedBytes() {
            return stages * (blockM + blockN) * blockK * elemBytes;
        }
    }

    static Tile tile(GemmVariant variant) {
        return switch (variant) {
            case SM80 -> new Tile(128, 128, 32, 256, 3, 2);
            case SM75 -> new Tile(128, 128, 32, 256, 1, 2);
            case SIMT -> new Tile(64, 64, 16, 256, 1, 4);
        };
    }

    /** Whether the variant can multiply these shapes. */
    public static boolean supports(GemmVariant variant, ComputeDtype dtype, int n, int k) {
        return variant.supports(dtype) && (variant == GemmVariant.SIMT || (n % 8 == 0 && k % 8 == 0));
    }

    public static LaunchShape shape(GemmVariant variant, ComputeDtype dtype, int m, int n, int k) {
        if (!supports(variant, dtype, n, k)) {
            throw new IllegalArgumentException(variant.module() + " cannot multiply " + dtype + " (" + m + " x " + k
                    + ") by (" + k + " x " + n + "): tensor-core variants need n and k multiples of 8 and fp16"
                    + (variant == GemmVariant.SM80 ? " or bf16" : ""));
        }
        if (m < 1 || n < 1 || k < 1) {
            throw new IllegalArgumentException("GEMM dimensions must be positive, got m=" + m + " n=" + n + " k=" + k);
        }
        Tile t = tile(variant);
        return new LaunchShape(variant.module() + "_" + LaunchShape.suffix(dtype),
                LaunchShape.ceilDiv(n, t.blockN()), LaunchShape.ceilDiv(m, t.blockM()), 1, t.threads(), t.sharedBytes());
    }
}

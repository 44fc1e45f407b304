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
 * {@code k} and {@code n} to be multiples of 8 (16-byte rows) and {@code a}, {@code w}, {@code c}
 * 16-byte aligned; any m. The SIMT variant takes any shape and alignment.
 *
 * <p>Dynamic shared memory never exceeds 48 KiB, so no kernel needs the opt-in attribute for
 * larger carve-outs. Pure functions of their arguments; thread-safe.
 */
public final class GemmLaunch {

    public static final int EPILOGUE_NONE = 0;
    public static final int EPILOGUE_GELU = 1;

    private GemmLaunch() {}

    /**
     * Tile of one block: BLOCK_M × BLOCK_N outputs, BLOCK_K deep per pipeline stage.
     *
     * @param elemBytes    bytes of one operand element as held in shared memory (the SIMT kernel
     *                     converts every dtype to fp32 on the way in)
     * @param pad          elements added to every shared-memory line of the a and w tiles; the
     *                     SIMT kernel stores them k-major in BLOCK_K lines of BLOCK_M + pad
     *                     (resp. BLOCK_N + pad), the tensor-core kernels swizzle instead (0)
     * @param stagedOutput whether the epilogue reuses the pipeline memory as a BLOCK_M × BLOCK_N
     *                     tile of the output dtype (2 bytes) before its 16-byte vector stores
     */
    record Tile(
            int blockM, int blockN, int blockK, int threads, int stages, int elemBytes, int pad, boolean stagedOutput) {

        int pipelineBytes() {
            return stages * (blockM + blockN + 2 * pad) * blockK * elemBytes;
        }

        int sharedBytes() {
            return Math.max(pipelineBytes(), stagedOutput ? blockM * blockN * 2 : 0);
        }
    }

    static Tile tile(GemmVariant variant) {
        return switch (variant) {
            case SM80 -> new Tile(128, 128, 32, 256, 3, 2, 0, true);
            case SM75 -> new Tile(128, 128, 32, 256, 2, 2, 0, true);
            case SIMT -> new Tile(64, 64, 16, 256, 2, 4, 4, false);
        };
    }

    /** Whether the variant can multiply these shapes. */
    public static boolean supports(GemmVariant variant, ComputeDtype dtype, int n, int k) {
        return variant.supports(dtype) && (variant == GemmVariant.SIMT || (n % 8 == 0 && k % 8 == 0));
    }

    /**
     * The launch of {@code variant} for {@code dtype} and the shape (m × k) · (n × k)ᵀ.
     *
     * @throws IllegalArgumentException if the variant has no kernel for the dtype, the tensor-core
     *                                  alignment rule does not hold, a dimension is not positive, or
     *                                  m needs more than 65535 row tiles (split the rows)
     */
    public static LaunchShape shape(GemmVariant variant, ComputeDtype dtype, int m, int n, int k) {
        if (!variant.supports(dtype)) {
            throw new IllegalArgumentException(variant.module() + " has no " + dtype + " kernel ("
                    + (variant == GemmVariant.SM75 ? "fp16 only" : "fp16 and bf16 only") + ")");
        }
        if (m < 1 || n < 1 || k < 1) {
            throw new IllegalArgumentException("GEMM dimensions must be positive, got m=" + m + " n=" + n + " k=" + k);
        }
        if (!supports(variant, dtype, n, k)) {
            throw new IllegalArgumentException(variant.module() + " cannot multiply (" + m + " x " + k + ") by (" + k
                    + " x " + n + "): tensor-core variants need n and k multiples of 8");
        }
        Tile t = tile(variant);
        int rowTiles = LaunchShape.ceilDiv(m, t.blockM());
        if (rowTiles > 65535) {
            throw new IllegalArgumentException(variant.module() + " covers at most " + 65535L * t.blockM()
                    + " rows in one launch, got m=" + m + "; split the rows");
        }
        return new LaunchShape(
                variant.module() + "_" + LaunchShape.suffix(dtype),
                LaunchShape.ceilDiv(n, t.blockN()),
                rowTiles,
                1,
                t.threads(),
                t.sharedBytes());
    }
}

package dev.attune.kernels.cuda.launch;

import dev.attune.kernels.select.ComputeDtype;

/**
 * Launch shapes of {@code encoder_ops.cu}, the element-wise and per-row kernels around the GEMMs
 * and attention. All accumulate in fp32; {@code T} is the activation dtype.
 * <pre>
 * embed_&lt;dt&gt;(const int* ids, const int* type_ids, const int* position_ids, const T* word,
 *            const T* position, const T* type, T* out, int tokens, int hidden)  // grid (tokens)
 * add_layernorm_&lt;dt&gt;(T* x, const T* residual (or null), const T* gamma, const T* beta,
 *                    float eps, int rows, int hidden)    // x = LN(x + residual); grid (rows)
 * gelu_&lt;dt&gt;(T* x, long long n)                          // erf GELU in place
 * residual_add_&lt;dt&gt;(T* x, const T* r, long long n)     // x += r
 * pool_mean_&lt;dt&gt;(const T* x, const int* cu_seqlens, int batch, int hidden, float* out)
 * pool_cls_&lt;dt&gt;(const T* x, const int* cu_seqlens, int batch, int hidden, float* out)
 *                                                       // out (batch, hidden) fp32; grid (batch)
 * l2_normalize_f32(float* x, int rows, int dim, float eps)  // grid (rows)
 * count_nonfinite_&lt;dt&gt;(const T* x, long long n, unsigned int* count)  // atomically adds
 * to_f32_&lt;dt&gt;(const T* x, float* y, long long n)
 * from_f32_&lt;dt&gt;(const float* x, T* y, long long n)
 * </pre>
 * Element-wise kernels use a grid-stride loop, so their grid is capped.
 */
public final class EncoderOpsLaunch {

    public static final String MODULE = "encoder_ops";
    static final int ROW_THREADS = 128;
    static final int ELEMENTWISE_THREADS = 256;
    static final int MAX_ELEMENTWISE_BLOCKS = 65535;

    private EncoderOpsLaunch() {
    }

    /** One block per row: embed, add_layernorm, pool_mean, pool_cls, l2_normalize. */
    public static LaunchShape perRow(String op, ComputeDtype dtype, int rows) {
        return new LaunchShape(op + "_" + LaunchShape.suffix(dtype), Math.max(1, rows), 1, 1, ROW_THREADS, 0);
    }

    /** Grid-stride element-wise: gelu, residual_add, count_nonfinite, to_f32, from_f32. */
    public static LaunchShape elementwise(String op, ComputeDtype dtype, long n) {
        long blocks = Math.max(1, Math.min(MAX_ELEMENTWISE_BLOCKS, (n + ELEMENTWISE_THREADS - 1) / ELEMENTWISE_THREADS));
        return new LaunchShape(op + "_" + LaunchShape.suffix(dtype), (int) blocks, 1, 1, ELEMENTWISE_THREADS, 0);
    }
}

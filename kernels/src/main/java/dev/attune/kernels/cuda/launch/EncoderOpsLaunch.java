package dev.attune.kernels.cuda.launch;

import dev.attune.kernels.select.ComputeDtype;
import java.util.Set;

/**
 * Launch shapes of {@code encoder_ops.cu}, the element-wise and per-row kernels around the GEMMs
 * and attention. All accumulate in fp32; {@code T} is the activation dtype.
 * <pre>
 * embed_&lt;dt&gt;(const int* ids, const int* type_ids, const int* position_ids, const T* word,
 *            const T* position, const T* type, T* out, int tokens, int hidden)  // grid (tokens)
 *                       // type_ids null: token type 0; type null: no token-type embedding
 * gather_rows_&lt;dt&gt;(const int* ids, const T* table, T* out, int rows, int width,
 *                  int accumulate)  // out[r] = table[ids[r]] (accumulate: +=); grid (rows)
 * add_layernorm_&lt;dt&gt;(T* x, const T* residual (or null), const T* gamma, const T* beta,
 *                    float eps, int rows, int hidden)    // x = LN(x + residual); grid (rows)
 * gelu_&lt;dt&gt;(T* x, long long n)                          // erf GELU in place
 * residual_add_&lt;dt&gt;(T* x, const T* r, long long n)     // x += r
 * pool_mean_&lt;dt&gt;(const T* x, const int* cu_seqlens, int batch, int hidden, float* out)
 * pool_cls_&lt;dt&gt;(const T* x, const int* cu_seqlens, int batch, int hidden, float* out)
 *                                                       // out (batch, hidden) fp32; grid (batch)
 *                                                       // an empty row gives zeros
 * l2_normalize_f32(float* x, int rows, int dim, float eps)  // x / max(||x||, eps); grid (rows)
 * count_nonfinite_&lt;dt&gt;(const T* x, long long n, unsigned int* count)  // atomically adds
 * to_f32_&lt;dt&gt;(const T* x, float* y, long long n)
 * from_f32_&lt;dt&gt;(const float* x, T* y, long long n)
 * </pre>
 * Element-wise kernels use a grid-stride loop, so their grid is capped. No kernel uses dynamic
 * shared memory. Pure functions of their arguments; thread-safe.
 */
public final class EncoderOpsLaunch {

    public static final String MODULE = "encoder_ops";
    static final int ROW_THREADS = 128;
    static final int ELEMENTWISE_THREADS = 256;
    static final int MAX_ELEMENTWISE_BLOCKS = 65535;

    /** Ops launched one block per row, for every dtype unless noted. */
    static final Set<String> PER_ROW_OPS =
            Set.of("embed", "gather_rows", "add_layernorm", "pool_mean", "pool_cls", "l2_normalize");
    /** Ops launched as a grid-stride loop over n elements. */
    static final Set<String> ELEMENTWISE_OPS = Set.of("gelu", "residual_add", "count_nonfinite", "to_f32", "from_f32");
    /** The one op that exists for fp32 only (it works on the fp32 pooled output). */
    static final String FP32_ONLY_OP = "l2_normalize";

    private EncoderOpsLaunch() {}

    /**
     * One block per row: embed, gather_rows, add_layernorm, pool_mean, pool_cls, l2_normalize (fp32 only).
     * Zero rows still launch one block, which returns at once.
     *
     * @throws IllegalArgumentException for an unknown op, l2_normalize with another dtype than
     *                                  fp32, or a negative row count
     */
    public static LaunchShape perRow(String op, ComputeDtype dtype, int rows) {
        if (!PER_ROW_OPS.contains(op)) {
            throw new IllegalArgumentException("'" + op + "' is not a per-row kernel of " + MODULE + "; those are "
                    + String.join(", ", PER_ROW_OPS.stream().sorted().toList()));
        }
        if (op.equals(FP32_ONLY_OP) && dtype != ComputeDtype.FP32) {
            throw new IllegalArgumentException(
                    op + " exists for fp32 only (it normalises the fp32 pooled output), got " + dtype);
        }
        if (rows < 0) {
            throw new IllegalArgumentException(op + ": row count must not be negative, got " + rows);
        }
        return new LaunchShape(op + "_" + LaunchShape.suffix(dtype), Math.max(1, rows), 1, 1, ROW_THREADS, 0);
    }

    /**
     * Grid-stride element-wise: gelu, residual_add, count_nonfinite, to_f32, from_f32. Zero
     * elements still launch one block, which does nothing.
     *
     * @throws IllegalArgumentException for an unknown op or a negative element count
     */
    public static LaunchShape elementwise(String op, ComputeDtype dtype, long n) {
        if (!ELEMENTWISE_OPS.contains(op)) {
            throw new IllegalArgumentException("'" + op + "' is not an element-wise kernel of " + MODULE
                    + "; those are "
                    + String.join(", ", ELEMENTWISE_OPS.stream().sorted().toList()));
        }
        if (n < 0) {
            throw new IllegalArgumentException(op + ": element count must not be negative, got " + n);
        }
        long blocks =
                Math.max(1, Math.min(MAX_ELEMENTWISE_BLOCKS, (n + ELEMENTWISE_THREADS - 1) / ELEMENTWISE_THREADS));
        return new LaunchShape(op + "_" + LaunchShape.suffix(dtype), (int) blocks, 1, 1, ELEMENTWISE_THREADS, 0);
    }
}

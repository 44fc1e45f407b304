// The element-wise and per-row kernels of an encoder forward pass, around the GEMMs and attention:
// embedding sum, row gather (one table at a time, optionally accumulating), residual add +
// LayerNorm, GELU, residual add, mean and CLS pooling, L2
// normalisation, a non-finite counter and dtype conversions. EncoderOpsLaunch holds the launch
// shapes; every kernel exists for T = float, __half, __nv_bfloat16 (suffix f32, f16, bf16) except
// l2_normalize_f32, which works on the fp32 pooled output. All arithmetic is fp32.
//
// Per-row kernels (embed, gather_rows, add_layernorm, pool_mean, pool_cls, l2_normalize): one block of
// RowTraits::THREADS = 128 threads per row, grid (rows); a block past the last row returns at once.
// Element-wise kernels (gelu, residual_add, count_nonfinite, to_f32, from_f32): 256 threads, a
// grid-stride loop over n (64-bit), any grid.
//
// Activations are packed tokens: row r of a (rows, hidden) tensor starts at element r * hidden,
// offsets computed in 64 bits. No kernel uses dynamic shared memory.

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "activation.cuh"
#include "attune_dtypes.cuh"

namespace attune {
namespace encoder_ops {

struct RowTraits {
    static constexpr int THREADS = 128;
    static constexpr int WARPS = THREADS / 32;
    // add_layernorm keeps a row in registers, CACHED elements a thread, when it fits (hidden up to
    // 1024, which covers BERT base and large); longer rows are streamed twice instead.
    static constexpr int CACHED = 8;
    static constexpr int MAX_CACHED_HIDDEN = THREADS * CACHED;
};

struct ElementwiseTraits {
    static constexpr int THREADS = 256;
};

__device__ __forceinline__ bool is_finite(float x) {
    return (__float_as_uint(x) & 0x7f800000u) != 0x7f800000u;
}

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
    for (int offset = 16; offset > 0; offset >>= 1) {
        v += __shfl_xor_sync(0xffffffffu, v, offset);
    }
    return v;
}

// Sum of v over the block; every thread gets the total, summed in the same order on every thread
// (and every run). scratch is RowTraits::WARPS floats of shared memory. The leading barrier keeps
// this call's writes from overtaking a previous call's readers of the same scratch.
__device__ __forceinline__ float block_sum(float v, float* scratch) {
    const int lane = threadIdx.x & 31;
    const int warp = threadIdx.x >> 5;
    v = warp_sum(v);
    __syncthreads();
    if (lane == 0) {
        scratch[warp] = v;
    }
    __syncthreads();
    float total = 0.0f;
#pragma unroll
    for (int i = 0; i < RowTraits::WARPS; ++i) {
        total += scratch[i];
    }
    return total;
}

// Count, mean and sum of squared deviations of a set of values (Welford / Chan et al.).
struct Moments {
    float count;
    float mean;
    float m2;

    __device__ __forceinline__ void add(float x) {
        count += 1.0f;
        const float d = x - mean;
        mean += d / count;
        m2 += d * (x - mean);
    }

    __device__ __forceinline__ static Moments combine(Moments a, Moments b) {
        const float count = a.count + b.count;
        if (count == 0.0f) {
            return a;
        }
        const float d = b.mean - a.mean;
        const float wb = b.count / count;
        return Moments{count, a.mean + d * wb, a.m2 + b.m2 + d * d * a.count * wb};
    }
};

__device__ __forceinline__ Moments block_moments(Moments m, Moments* scratch) {
    const int lane = threadIdx.x & 31;
    const int warp = threadIdx.x >> 5;
#pragma unroll
    for (int offset = 16; offset > 0; offset >>= 1) {
        Moments o;
        o.count = __shfl_xor_sync(0xffffffffu, m.count, offset);
        o.mean = __shfl_xor_sync(0xffffffffu, m.mean, offset);
        o.m2 = __shfl_xor_sync(0xffffffffu, m.m2, offset);
        m = Moments::combine(m, o);
    }
    __syncthreads();
    if (lane == 0) {
        scratch[warp] = m;
    }
    __syncthreads();
    Moments total = scratch[0];
#pragma unroll
    for (int i = 1; i < RowTraits::WARPS; ++i) {
        total = Moments::combine(total, scratch[i]);
    }
    return total;
}

// out(token, :) = word(ids[token], :) + position(position_ids[token], :) + type(type_ids[token], :)
// type_ids null means token type 0; a null type table means the model has no token-type
// embedding. Indices are trusted: the caller checks them against the table sizes.
template <typename T>
__device__ __forceinline__ void embed(const int* __restrict__ ids, const int* __restrict__ type_ids,
                                      const int* __restrict__ position_ids, const T* __restrict__ word,
                                      const T* __restrict__ position, const T* __restrict__ type,
                                      T* __restrict__ out, int tokens, int hidden) {
    const int token = blockIdx.x;
    if (token >= tokens) {
        return;
    }
    const T* wr = word + static_cast<long long>(ids[token]) * hidden;
    const T* pr = position + static_cast<long long>(position_ids[token]) * hidden;
    const T* tr = type == nullptr ? nullptr
                                  : type + static_cast<long long>(type_ids == nullptr ? 0 : type_ids[token]) * hidden;
    T* o = out + static_cast<long long>(token) * hidden;
    for (int h = threadIdx.x; h < hidden; h += RowTraits::THREADS) {
        float v = to_float(wr[h]) + to_float(pr[h]);
        if (tr != nullptr) {
            v += to_float(tr[h]);
        }
        o[h] = from_float<T>(v);
    }
}

// out(r, :) = table(ids[r], :), or out(r, :) += table(ids[r], :) when accumulate is non-zero (the
// sum in fp32, rounded once to T). The op contract's gatherRows: word embeddings, then position
// and token-type embeddings added one table at a time. Indices are trusted: the caller checks
// them against the table's rows. Each element is read and written by the same thread.
template <typename T>
__device__ __forceinline__ void gather_rows(const int* __restrict__ ids, const T* __restrict__ table,
                                            T* __restrict__ out, int rows, int width, int accumulate) {
    const int row = blockIdx.x;
    if (row >= rows) {
        return;
    }
    const T* src = table + static_cast<long long>(ids[row]) * width;
    T* o = out + static_cast<long long>(row) * width;
    for (int h = threadIdx.x; h < width; h += RowTraits::THREADS) {
        const float v = to_float(src[h]);
        o[h] = from_float<T>(accumulate != 0 ? to_float(o[h]) + v : v);
    }
}

// x(row, :) = LayerNorm(x(row, :) + residual(row, :)) * gamma + beta, in place; residual may be
// null. Mean and variance (biased, as LayerNorm uses) in fp32: two passes over registers when the
// row fits them, otherwise Welford moments over one streamed pass and a second pass that writes.
// Each element is read and then written by the same thread, so in place needs no barrier.
template <typename T>
__device__ __forceinline__ void add_layernorm(T* __restrict__ x, const T* __restrict__ residual,
                                              const T* __restrict__ gamma, const T* __restrict__ beta, float eps,
                                              int rows, int hidden) {
    using Tr = RowTraits;
    __shared__ float sum_scratch[Tr::WARPS];
    __shared__ Moments moment_scratch[Tr::WARPS];

    const int row = blockIdx.x;
    if (row >= rows) {
        return;
    }
    const int tid = threadIdx.x;
    T* xr = x + static_cast<long long>(row) * hidden;
    const T* rr = residual == nullptr ? nullptr : residual + static_cast<long long>(row) * hidden;
    const float inv_hidden = 1.0f / static_cast<float>(hidden);

    if (hidden <= Tr::MAX_CACHED_HIDDEN) {
        float v[Tr::CACHED];
        float sum = 0.0f;
#pragma unroll
        for (int i = 0; i < Tr::CACHED; ++i) {
            const int h = tid + i * Tr::THREADS;
            v[i] = 0.0f;
            if (h < hidden) {
                v[i] = to_float(xr[h]) + (rr != nullptr ? to_float(rr[h]) : 0.0f);
            }
            sum += v[i];
        }
        const float mean = block_sum(sum, sum_scratch) * inv_hidden;
        float sq = 0.0f;
#pragma unroll
        for (int i = 0; i < Tr::CACHED; ++i) {
            const int h = tid + i * Tr::THREADS;
            const float d = v[i] - mean;
            sq += h < hidden ? d * d : 0.0f;
        }
        const float rstd = rsqrtf(block_sum(sq, sum_scratch) * inv_hidden + eps);
#pragma unroll
        for (int i = 0; i < Tr::CACHED; ++i) {
            const int h = tid + i * Tr::THREADS;
            if (h < hidden) {
                xr[h] = from_float<T>((v[i] - mean) * rstd * to_float(gamma[h]) + to_float(beta[h]));
            }
        }
        return;
    }

    Moments m{0.0f, 0.0f, 0.0f};
    for (int h = tid; h < hidden; h += Tr::THREADS) {
        m.add(to_float(xr[h]) + (rr != nullptr ? to_float(rr[h]) : 0.0f));
    }
    const Moments total = block_moments(m, moment_scratch);
    const float mean = total.mean;
    const float rstd = rsqrtf(total.m2 * inv_hidden + eps);
    for (int h = tid; h < hidden; h += Tr::THREADS) {
        const float v = to_float(xr[h]) + (rr != nullptr ? to_float(rr[h]) : 0.0f);
        xr[h] = from_float<T>((v - mean) * rstd * to_float(gamma[h]) + to_float(beta[h]));
    }
}

// out(b, :) = mean of x over row b's tokens [cu_seqlens[b], cu_seqlens[b + 1]); zeros for an
// empty row. Threads own hidden columns and walk the tokens, so every load is coalesced.
template <typename T>
__device__ __forceinline__ void pool_mean(const T* __restrict__ x, const int* __restrict__ cu_seqlens, int batch,
                                          int hidden, float* __restrict__ out) {
    const int b = blockIdx.x;
    if (b >= batch) {
        return;
    }
    const int begin = cu_seqlens[b];
    const int end = cu_seqlens[b + 1];
    const float inv_len = end > begin ? 1.0f / static_cast<float>(end - begin) : 0.0f;
    for (int h = threadIdx.x; h < hidden; h += RowTraits::THREADS) {
        float sum = 0.0f;
        for (int t = begin; t < end; ++t) {
            sum += to_float(x[static_cast<long long>(t) * hidden + h]);
        }
        out[static_cast<long long>(b) * hidden + h] = sum * inv_len;
    }
}

// out(b, :) = x(cu_seqlens[b], :), the first token of row b; zeros for an empty row.
template <typename T>
__device__ __forceinline__ void pool_cls(const T* __restrict__ x, const int* __restrict__ cu_seqlens, int batch,
                                         int hidden, float* __restrict__ out) {
    const int b = blockIdx.x;
    if (b >= batch) {
        return;
    }
    const int begin = cu_seqlens[b];
    const bool empty = cu_seqlens[b + 1] <= begin;
    for (int h = threadIdx.x; h < hidden; h += RowTraits::THREADS) {
        out[static_cast<long long>(b) * hidden + h] =
            empty ? 0.0f : to_float(x[static_cast<long long>(begin) * hidden + h]);
    }
}

// x(row, :) /= max(||x(row, :)||_2, eps), in place (as torch.nn.functional.normalize).
__device__ __forceinline__ void l2_normalize(float* __restrict__ x, int rows, int dim, float eps) {
    __shared__ float scratch[RowTraits::WARPS];
    const int row = blockIdx.x;
    if (row >= rows) {
        return;
    }
    float* xr = x + static_cast<long long>(row) * dim;
    float ss = 0.0f;
    for (int i = threadIdx.x; i < dim; i += RowTraits::THREADS) {
        ss = fmaf(xr[i], xr[i], ss);
    }
    // Every thread reads its elements before the barriers inside block_sum and writes only its own
    // elements after, so the in-place update cannot race with another thread's reads.
    const float denom = fmaxf(sqrtf(block_sum(ss, scratch)), eps);
    for (int i = threadIdx.x; i < dim; i += RowTraits::THREADS) {
        xr[i] = xr[i] / denom;
    }
}

__device__ __forceinline__ long long grid_start() {
    return static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x;
}

__device__ __forceinline__ long long grid_step() {
    return static_cast<long long>(gridDim.x) * blockDim.x;
}

template <typename T>
__device__ __forceinline__ void gelu(T* __restrict__ x, long long n) {
    for (long long i = grid_start(); i < n; i += grid_step()) {
        x[i] = from_float<T>(gelu_erf(to_float(x[i])));
    }
}

template <typename T>
__device__ __forceinline__ void residual_add(T* __restrict__ x, const T* __restrict__ r, long long n) {
    for (long long i = grid_start(); i < n; i += grid_step()) {
        x[i] = from_float<T>(to_float(x[i]) + to_float(r[i]));
    }
}

// *count += number of inf and NaN elements of x; one atomic per warp that found any. Every lane
// leaves the grid-stride loop before the shuffles, so the full mask is right.
template <typename T>
__device__ __forceinline__ void count_nonfinite(const T* __restrict__ x, long long n, unsigned int* count) {
    unsigned int local = 0;
    for (long long i = grid_start(); i < n; i += grid_step()) {
        local += is_finite(to_float(x[i])) ? 0u : 1u;
    }
#pragma unroll
    for (int offset = 16; offset > 0; offset >>= 1) {
        local += __shfl_xor_sync(0xffffffffu, local, offset);
    }
    if ((threadIdx.x & 31) == 0 && local != 0) {
        atomicAdd(count, local);
    }
}

template <typename T>
__device__ __forceinline__ void to_f32(const T* __restrict__ x, float* __restrict__ y, long long n) {
    for (long long i = grid_start(); i < n; i += grid_step()) {
        y[i] = to_float(x[i]);
    }
}

template <typename T>
__device__ __forceinline__ void from_f32(const float* __restrict__ x, T* __restrict__ y, long long n) {
    for (long long i = grid_start(); i < n; i += grid_step()) {
        y[i] = from_float<T>(x[i]);
    }
}

}  // namespace encoder_ops
}  // namespace attune

#define ATTUNE_ROW_KERNEL extern "C" __global__ void __launch_bounds__(attune::encoder_ops::RowTraits::THREADS)
#define ATTUNE_ELEMENTWISE_KERNEL \
    extern "C" __global__ void __launch_bounds__(attune::encoder_ops::ElementwiseTraits::THREADS)

#define ATTUNE_ENCODER_OPS(SUFFIX, T)                                                                              \
    ATTUNE_ROW_KERNEL embed_##SUFFIX(const int* __restrict__ ids, const int* __restrict__ type_ids,               \
                                     const int* __restrict__ position_ids, const T* __restrict__ word,           \
                                     const T* __restrict__ position, const T* __restrict__ type,                 \
                                     T* __restrict__ out, int tokens, int hidden) {                              \
        attune::encoder_ops::embed<T>(ids, type_ids, position_ids, word, position, type, out, tokens, hidden);   \
    }                                                                                                              \
    ATTUNE_ROW_KERNEL gather_rows_##SUFFIX(const int* __restrict__ ids, const T* __restrict__ table,               \
                                           T* __restrict__ out, int rows, int width, int accumulate) {           \
        attune::encoder_ops::gather_rows<T>(ids, table, out, rows, width, accumulate);                             \
    }                                                                                                              \
    ATTUNE_ROW_KERNEL add_layernorm_##SUFFIX(T* __restrict__ x, const T* __restrict__ residual,                   \
                                             const T* __restrict__ gamma, const T* __restrict__ beta, float eps,   \
                                             int rows, int hidden) {                                               \
        attune::encoder_ops::add_layernorm<T>(x, residual, gamma, beta, eps, rows, hidden);                        \
    }                                                                                                              \
    ATTUNE_ROW_KERNEL pool_mean_##SUFFIX(const T* __restrict__ x, const int* __restrict__ cu_seqlens, int batch,  \
                                         int hidden, float* __restrict__ out) {                                    \
        attune::encoder_ops::pool_mean<T>(x, cu_seqlens, batch, hidden, out);                                      \
    }                                                                                                              \
    ATTUNE_ROW_KERNEL pool_cls_##SUFFIX(const T* __restrict__ x, const int* __restrict__ cu_seqlens, int batch,   \
                                        int hidden, float* __restrict__ out) {                                     \
        attune::encoder_ops::pool_cls<T>(x, cu_seqlens, batch, hidden, out);                                       \
    }                                                                                                              \
    ATTUNE_ELEMENTWISE_KERNEL gelu_##SUFFIX(T* __restrict__ x, long long n) {                                      \
        attune::encoder_ops::gelu<T>(x, n);                                                                        \
    }                                                                                                              \
    ATTUNE_ELEMENTWISE_KERNEL residual_add_##SUFFIX(T* __restrict__ x, const T* __restrict__ r, long long n) {     \
        attune::encoder_ops::residual_add<T>(x, r, n);                                                             \
    }                                                                                                              \
    ATTUNE_ELEMENTWISE_KERNEL count_nonfinite_##SUFFIX(const T* __restrict__ x, long long n, unsigned int* count) { \
        attune::encoder_ops::count_nonfinite<T>(x, n, count);                                                      \
    }                                                                                                              \
    ATTUNE_ELEMENTWISE_KERNEL to_f32_##SUFFIX(const T* __restrict__ x, float* __restrict__ y, long long n) {       \
        attune::encoder_ops::to_f32<T>(x, y, n);                                                                   \
    }                                                                                                              \
    ATTUNE_ELEMENTWISE_KERNEL from_f32_##SUFFIX(const float* __restrict__ x, T* __restrict__ y, long long n) {     \
        attune::encoder_ops::from_f32<T>(x, y, n);                                                                 \
    }

ATTUNE_ENCODER_OPS(f32, float)
ATTUNE_ENCODER_OPS(f16, __half)
ATTUNE_ENCODER_OPS(bf16, __nv_bfloat16)

ATTUNE_ROW_KERNEL l2_normalize_f32(float* __restrict__ x, int rows, int dim, float eps) {
    attune::encoder_ops::l2_normalize(x, rows, dim, eps);
}

#undef ATTUNE_ENCODER_OPS
#undef ATTUNE_ELEMENTWISE_KERNEL
#undef ATTUNE_ROW_KERNEL

// Explicit ("math") attention on CUDA cores: for one chunk of query positions
// [q_begin, q_begin + q_count) of every row, three kernels write the scores, softmax them in place
// and multiply by V. The score buffer costs O(q_count * max_seqlen) per (row, head), so the caller
// chunks the queries to fit memory; it is the reference-shaped path for short rows and for shapes
// no fused kernel covers.
//
// Score buffer s: fp32, (batch, heads, q_count, max_seqlen), dense. For a query inside its row,
// entries of keys past the row's length or masked by causality hold -inf after math_scores and 0
// after math_softmax. Rows of queries past the row's length are never written nor read.
// Scores are stored as logits, scale * q.k (natural units), so the buffer reads as the model's
// attention logits; math_softmax evaluates exp(x - max) as exp2f((x - max) * log2 e).
//
// Grids (MathAttentionLaunch): x = batch * heads (b = x / heads, h = x % heads), y = query within
// the chunk, z = tiles of THREADS keys (scores) or head-dim columns (pv); softmax has z = 1.
// None of the kernels uses a barrier except math_softmax, whose early exit is block-uniform.

#include <cstdint>

#include "attune_dtypes.cuh"

namespace attune {
namespace math_attention {

constexpr int kThreads = 128;  // MathAttentionLaunch.THREADS
constexpr int kWarps = kThreads / 32;
constexpr float kLog2e = 1.4426950408889634f;
constexpr unsigned kFullMask = 0xffffffffu;

// Element (token, head, d) of a packed activation, in 64 bits.
__device__ __forceinline__ int64_t elem_offset(int token, int stride, int head, int head_dim, int d) {
    return static_cast<int64_t>(token) * stride + static_cast<int64_t>(head) * head_dim + d;
}

// First element of the score row of (batch-head bh, chunk query y): (bh * q_count + y) * max_seqlen.
__device__ __forceinline__ int64_t score_row(int bh, int q_count, int y, int max_seqlen) {
    return (static_cast<int64_t>(bh) * q_count + y) * max_seqlen;
}

// The grid position every kernel starts from.
struct Query {
    int head;
    int row_begin;  // first token of the row in the packed tensors
    int seqlen;     // tokens in the row
    int pos;        // query position within the row
    int64_t s_row;  // first element of this query's score row
};

__device__ __forceinline__ Query locate(const int* cu_seqlens, int heads, int max_seqlen, int q_begin,
                                        int q_count) {
    Query qy;
    const int bh = blockIdx.x;
    const int b = bh / heads;
    qy.head = bh - b * heads;
    qy.row_begin = cu_seqlens[b];
    qy.seqlen = cu_seqlens[b + 1] - qy.row_begin;
    qy.pos = q_begin + static_cast<int>(blockIdx.y);
    qy.s_row = score_row(bh, q_count, blockIdx.y, max_seqlen);
    return qy;
}

// One thread per key j: s[j] = scale * q . k_j, or -inf where j is past the row or after the query
// (causal). The query row is the same address for every thread (served by the cache as a
// broadcast); each thread walks its own key row along d.
template <typename T>
__device__ __forceinline__ void scores(const T* __restrict__ q, const T* __restrict__ k, float* __restrict__ s,
                                       const int* __restrict__ cu_seqlens, int heads, int head_dim, int q_stride,
                                       int kv_stride, int max_seqlen, int q_begin, int q_count, float scale,
                                       int causal) {
    const Query qy = locate(cu_seqlens, heads, max_seqlen, q_begin, q_count);
    const int j = blockIdx.z * kThreads + threadIdx.x;
    if (qy.pos >= qy.seqlen || j >= max_seqlen) {
        return;
    }
    float score = -INFINITY;
    if (j < qy.seqlen && (!causal || j <= qy.pos)) {
        const T* q_row = q + elem_offset(qy.row_begin + qy.pos, q_stride, qy.head, head_dim, 0);
        const T* k_row = k + elem_offset(qy.row_begin + j, kv_stride, qy.head, head_dim, 0);
        float acc = 0.f;
        for (int d = 0; d < head_dim; ++d) {
            acc = fmaf(to_float(q_row[d]), to_float(k_row[d]), acc);
        }
        score = acc * scale;
    }
    s[qy.s_row + j] = score;
}

// Running (max, sum) pair of an online softmax: sum is relative to max; max = -inf means empty.
struct MaxSum {
    float max;
    float sum;
};

// exp(x - ref) for a reference that may be -inf (empty): an empty reference contributes 0 rather
// than exp(-inf - -inf) = NaN.
__device__ __forceinline__ float exp_rel(float x, float ref) {
    return ref == -INFINITY ? 0.f : exp2f((x - ref) * kLog2e);
}

__device__ __forceinline__ MaxSum combine(MaxSum a, MaxSum b) {
    const float m = fmaxf(a.max, b.max);
    return MaxSum{m, a.sum * exp_rel(a.max, m) + b.sum * exp_rel(b.max, m)};
}

// One block per score row. Each thread folds its strided entries into a (max, sum) pair, the block
// combines the pairs (warp shuffles, then one slot per warp in shared memory), and a second pass
// writes exp(x - max) / sum, which turns -inf entries into 0.
__device__ __forceinline__ void softmax(float* __restrict__ s, const int* __restrict__ cu_seqlens, int heads,
                                       int max_seqlen, int q_begin, int q_count) {
    __shared__ float warp_max[kWarps];
    __shared__ float warp_sum[kWarps];

    const Query qy = locate(cu_seqlens, heads, max_seqlen, q_begin, q_count);
    // Block-uniform: the whole block leaves together, before the barrier.
    if (qy.pos >= qy.seqlen) {
        return;
    }
    float* row = s + qy.s_row;

    MaxSum acc{-INFINITY, 0.f};
    for (int j = threadIdx.x; j < max_seqlen; j += kThreads) {
        acc = combine(acc, MaxSum{row[j], 1.f});
    }
#pragma unroll
    for (int offset = 16; offset > 0; offset >>= 1) {
        const MaxSum other{__shfl_xor_sync(kFullMask, acc.max, offset), __shfl_xor_sync(kFullMask, acc.sum, offset)};
        acc = combine(acc, other);
    }
    const int warp = threadIdx.x / 32;
    if (threadIdx.x % 32 == 0) {
        warp_max[warp] = acc.max;
        warp_sum[warp] = acc.sum;
    }
    // Publishes the per-warp pairs. No barrier follows: the slots are read-only from here on, and
    // the block's own row entries are read and rewritten by the thread that read them first.
    __syncthreads();
    MaxSum total = MaxSum{warp_max[0], warp_sum[0]};
#pragma unroll
    for (int w = 1; w < kWarps; ++w) {
        total = combine(total, MaxSum{warp_max[w], warp_sum[w]});
    }
    // A visible query always sees key 0, so sum >= 1; the guard covers an empty row all the same.
    const float inv_sum = total.sum > 0.f ? 1.f / total.sum : 0.f;
    for (int j = threadIdx.x; j < max_seqlen; j += kThreads) {
        row[j] = exp_rel(row[j], total.max) * inv_sum;
    }
}

// One thread per head-dim column d: o[d] = sum_j p_j v_j[d] over the row's keys. p_j is the same
// address for every thread (a broadcast); v_j[d] is read by consecutive threads (coalesced).
// Entries past the row's length are 0 and are skipped.
template <typename T>
__device__ __forceinline__ void pv(const float* __restrict__ s, const T* __restrict__ v, T* __restrict__ o,
                                   const int* __restrict__ cu_seqlens, int heads, int head_dim, int kv_stride,
                                   int o_stride, int max_seqlen, int q_begin, int q_count) {
    const Query qy = locate(cu_seqlens, heads, max_seqlen, q_begin, q_count);
    const int d = blockIdx.z * kThreads + threadIdx.x;
    if (qy.pos >= qy.seqlen || d >= head_dim) {
        return;
    }
    const float* p = s + qy.s_row;
    const T* v_col = v + elem_offset(qy.row_begin, kv_stride, qy.head, head_dim, d);
    float acc = 0.f;
    for (int j = 0; j < qy.seqlen; ++j) {
        acc = fmaf(p[j], to_float(v_col[static_cast<int64_t>(j) * kv_stride]), acc);
    }
    o[elem_offset(qy.row_begin + qy.pos, o_stride, qy.head, head_dim, d)] = from_float<T>(acc);
}

}  // namespace math_attention
}  // namespace attune

// `batch` is part of the ABI (it sizes the grid's x extent with heads); the kernels read only heads.
#define ATTUNE_MATH_SCORES_ENTRY(NAME, T)                                                                \
    extern "C" __global__ void __launch_bounds__(attune::math_attention::kThreads)                       \
        NAME(const T* q, const T* k, float* s, const int* cu_seqlens, int batch, int heads, int head_dim, \
             int q_stride, int kv_stride, int max_seqlen, int q_begin, int q_count, float scale,          \
             int causal) {                                                                               \
        (void)batch;                                                                                     \
        attune::math_attention::scores<T>(q, k, s, cu_seqlens, heads, head_dim, q_stride, kv_stride,     \
                                          max_seqlen, q_begin, q_count, scale, causal);                  \
    }

#define ATTUNE_MATH_PV_ENTRY(NAME, T)                                                                    \
    extern "C" __global__ void __launch_bounds__(attune::math_attention::kThreads)                       \
        NAME(const float* s, const T* v, T* o, const int* cu_seqlens, int batch, int heads, int head_dim, \
             int kv_stride, int o_stride, int max_seqlen, int q_begin, int q_count) {                     \
        (void)batch;                                                                                     \
        attune::math_attention::pv<T>(s, v, o, cu_seqlens, heads, head_dim, kv_stride, o_stride,         \
                                      max_seqlen, q_begin, q_count);                                     \
    }

ATTUNE_MATH_SCORES_ENTRY(math_scores_f32, float)
ATTUNE_MATH_SCORES_ENTRY(math_scores_f16, __half)
ATTUNE_MATH_SCORES_ENTRY(math_scores_bf16, __nv_bfloat16)

extern "C" __global__ void __launch_bounds__(attune::math_attention::kThreads)
    math_softmax(float* s, const int* cu_seqlens, int batch, int heads, int max_seqlen, int q_begin, int q_count) {
    (void)batch;
    attune::math_attention::softmax(s, cu_seqlens, heads, max_seqlen, q_begin, q_count);
}

ATTUNE_MATH_PV_ENTRY(math_pv_f32, float)
ATTUNE_MATH_PV_ENTRY(math_pv_f16, __half)
ATTUNE_MATH_PV_ENTRY(math_pv_bf16, __nv_bfloat16)

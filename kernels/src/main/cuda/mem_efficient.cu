// Memory-efficient attention forward on CUDA cores: tiled online softmax, fp32 accumulation, any
// head dimension, fp32/fp16/bf16 storage. The fallback every GPU can run (no tensor cores, PTX ISA
// 6.0, sm_60); its memory is O(N): nothing is proportional to the square of the sequence length.
//
// One block of 128 threads owns BLOCK_M = 16 queries of one (row, head) and walks that row's keys
// in tiles of BLOCK_N (32 up to head_dim 64, 16 up to 128, 8 beyond: the K and V tiles shrink as
// the head grows, so head_dim 256 still fits the 64 KB of an sm_75 block). Per key tile:
//
//   1. load K and V tiles to shared memory (fp32)                       barrier
//   2. S = Q K^T for the tile; each thread owns one key column and ROWS_PER_THREAD query rows,
//      so the BLOCK_N lanes that share a query row hold that row's tile of scores: the row max
//      and row sum are warp shuffles, and the running max m and sum l of every query live in
//      registers (replicated across those lanes). Writes P and the rescale factor per query.
//                                                                        barrier
//   3. O = O * alpha + P V, each thread owns one head-dim column of PV_ROWS query rows
//                                                                        barrier
//
// Launch shape and shared-memory size: dev.attune.kernels.cuda.launch.MemEfficientLaunch. The
// shared layout below must add up to MemEfficientLaunch.sharedBytes(head_dim).

#include <cstdint>

#include "attune_dtypes.cuh"

namespace attune {
namespace mem_efficient {

constexpr float kLog2e = 1.4426950408889634f;
constexpr unsigned kFullMask = 0xffffffffu;
constexpr int kThreads = 128;  // MemEfficientLaunch.THREADS

// Tile traits. THREADS and BLOCK_M are fixed by the launch class; BLOCK_N is chosen per call from
// the head dimension (MemEfficientLaunch.blockN).
template <int BLOCK_N_>
struct Traits {
    static constexpr int THREADS = kThreads;
    static constexpr int WARPS = THREADS / 32;
    static constexpr int BLOCK_M = 16;
    static constexpr int BLOCK_N = BLOCK_N_;

    // Score phase: thread t owns key column t % BLOCK_N and query rows
    // t / BLOCK_N + r * ROW_STEP, r < ROWS_PER_THREAD.
    static constexpr int ROW_STEP = THREADS / BLOCK_N;
    static constexpr int ROWS_PER_THREAD = BLOCK_M / ROW_STEP;

    // PV phase: warp w owns query rows w + r * WARPS, r < PV_ROWS; lane l owns head-dim columns
    // l, l + 32, ...
    static constexpr int PV_ROWS = BLOCK_M / WARPS;

    static_assert(THREADS % 32 == 0, "whole warps");
    static_assert(32 % BLOCK_N == 0, "a query row's score lanes must sit inside one warp");
    static_assert(THREADS % BLOCK_N == 0 && BLOCK_M % ROW_STEP == 0, "score tile splits evenly");
    static_assert(BLOCK_M * BLOCK_N == THREADS * ROWS_PER_THREAD, "every score owned once");
    static_assert(BLOCK_M % WARPS == 0, "PV rows split evenly over warps");
    static_assert(BLOCK_N % 4 == 0, "PV reads a row of p as float4s");
};

// Row stride of the Q and K tiles in shared memory: head_dim rounded up to an odd number of
// floats. In the score loop the lanes of a warp read BLOCK_N K rows at the same d (and, when
// BLOCK_N < 32, 32 / BLOCK_N Q rows): with an odd stride, k rows apart land k * ld apart, never a
// multiple of 32 banks for k < 32, so those reads are conflict-free. V and O are read along d by
// consecutive lanes and need no padding.
__device__ __forceinline__ int qk_stride(int head_dim) { return head_dim | 1; }

// Dynamic shared memory, all fp32, in this order (MemEfficientLaunch.sharedBytes adds it up):
//   q      (BLOCK_M, ld)        Q tile pre-scaled by scale * log2(e)
//   k      (BLOCK_N, ld)        K tile
//   o      (BLOCK_M, head_dim)  output accumulator, unnormalised
//   v      (BLOCK_N, head_dim)  V tile
//   p      (BLOCK_M, BLOCK_N)   probabilities of the current key tile; starts (BLOCK_M + BLOCK_N)
//                               * (ld + head_dim) floats in, a multiple of 8 floats, so its
//                               rows are 16-byte aligned for the float4 reads of the PV phase
//   alpha  (BLOCK_M)            per-query rescale of o for the current key tile
//   inv_l  (BLOCK_M)            per-query 1 / softmax denominator, written once at the end
template <typename Tr>
struct Smem {
    float* q;
    float* k;
    float* o;
    float* v;
    float* p;
    float* alpha;
    float* inv_l;

    __device__ __forceinline__ Smem(float* base, int head_dim, int ld) {
        q = base;
        k = q + Tr::BLOCK_M * ld;
        o = k + Tr::BLOCK_N * ld;
        v = o + Tr::BLOCK_M * head_dim;
        p = v + Tr::BLOCK_N * head_dim;
        alpha = p + Tr::BLOCK_M * Tr::BLOCK_N;
        inv_l = alpha + Tr::BLOCK_M;
    }
};

// Reduces over the BLOCK_N lanes that hold one query row (aligned groups of BLOCK_N lanes of a
// warp; xor offsets below BLOCK_N never leave the group). Every lane of the warp must call it.
template <int BLOCK_N>
__device__ __forceinline__ float group_max(float x) {
#pragma unroll
    for (int offset = BLOCK_N / 2; offset > 0; offset >>= 1) {
        x = fmaxf(x, __shfl_xor_sync(kFullMask, x, offset));
    }
    return x;
}

template <int BLOCK_N>
__device__ __forceinline__ float group_sum(float x) {
#pragma unroll
    for (int offset = BLOCK_N / 2; offset > 0; offset >>= 1) {
        x += __shfl_xor_sync(kFullMask, x, offset);
    }
    return x;
}

// One 16-byte shared-memory load, spelled out: nvcc 13 otherwise splits such loads into masked
// vector loads tagged `.pragma "used_bytes_mask"`, which needs PTX ISA 8.3 and would break the
// shipped ISA 6.0. The "memory" clobber keeps it between the barriers that order it.
__device__ __forceinline__ float4 lds_f32x4(const float* ptr) {
#ifdef ATTUNE_HOST_EMULATION
    return attune_emu::lds_f32x4(ptr);  // range- and alignment-checked (kernels/src/test/emulation)
#else
    const unsigned addr = static_cast<unsigned>(__cvta_generic_to_shared(ptr));
    float4 r;
    asm volatile("ld.shared.v4.f32 {%0, %1, %2, %3}, [%4];"
                 : "=f"(r.x), "=f"(r.y), "=f"(r.z), "=f"(r.w)
                 : "r"(addr)
                 : "memory");
    return r;
#endif
}

// Element (token, head, d) of a packed activation: base + token * stride + head * head_dim + d,
// in 64 bits.
__device__ __forceinline__ int64_t elem_offset(int token, int stride, int head, int head_dim, int d) {
    return static_cast<int64_t>(token) * stride + static_cast<int64_t>(head) * head_dim + d;
}

template <typename T, typename Tr>
__device__ __forceinline__ void fwd(const T* __restrict__ q, const T* __restrict__ k, const T* __restrict__ v,
                                    T* __restrict__ o, const int* __restrict__ cu_seqlens, int head_dim,
                                    int q_stride, int kv_stride, int o_stride, float scale, int causal,
                                    float* smem_base) {
    constexpr int BLOCK_M = Tr::BLOCK_M;
    constexpr int BLOCK_N = Tr::BLOCK_N;
    constexpr int THREADS = Tr::THREADS;

    const int head = blockIdx.y;
    const int batch_row = blockIdx.z;
    const int row_begin = cu_seqlens[batch_row];
    const int seqlen = cu_seqlens[batch_row + 1] - row_begin;
    const int m0 = blockIdx.x * BLOCK_M;  // first query of this block, within the row
    // Block-uniform: the whole block leaves together, before any barrier.
    if (m0 >= seqlen) {
        return;
    }
    const int m_valid = min(BLOCK_M, seqlen - m0);
    // Causal: the last query of the tile sees keys up to m0 + BLOCK_M - 1; later tiles are skipped.
    // A query that sees no key of a tile is still handled (see the -inf guard below).
    const int n_end = causal ? min(seqlen, m0 + BLOCK_M) : seqlen;

    const int ld = qk_stride(head_dim);
    Smem<Tr> sm(smem_base, head_dim, ld);
    const int tid = threadIdx.x;

    // ---- Q tile (pre-scaled into the log2 domain) and a zero accumulator. Rows past the sequence
    // are zero so that their scores stay finite; they are never written out. The first barrier of
    // the key loop publishes these stores.
    const float q_scale = scale * kLog2e;
    for (int idx = tid; idx < BLOCK_M * head_dim; idx += THREADS) {
        const int r = idx / head_dim;
        const int d = idx - r * head_dim;
        float x = 0.f;
        if (r < m_valid) {
            x = to_float(q[elem_offset(row_begin + m0 + r, q_stride, head, head_dim, d)]) * q_scale;
        }
        sm.q[r * ld + d] = x;
        sm.o[idx] = 0.f;
    }

    // Score-phase ownership (see Traits).
    const int col = tid % BLOCK_N;
    const int row0 = tid / BLOCK_N;
    float m_run[Tr::ROWS_PER_THREAD];  // running max, log2 domain; -inf before any visible key
    float l_run[Tr::ROWS_PER_THREAD];  // running denominator, relative to m_run
#pragma unroll
    for (int r = 0; r < Tr::ROWS_PER_THREAD; ++r) {
        m_run[r] = -INFINITY;
        l_run[r] = 0.f;
    }

    // PV-phase ownership (see Traits).
    const int warp = tid / 32;
    const int lane = tid % 32;

    for (int n0 = 0; n0 < n_end; n0 += BLOCK_N) {
        const int n_valid = min(BLOCK_N, seqlen - n0);

        // ---- 1. K and V tiles. Keys past the sequence are zero: their scores are masked to -inf
        // anyway, and a zero V row keeps 0 * garbage (possibly NaN) out of the accumulator.
        // Hazard: the previous iteration's score and PV phases read k, v, p and alpha; the barrier
        // that ends the iteration orders them before these stores.
        for (int idx = tid; idx < BLOCK_N * head_dim; idx += THREADS) {
            const int r = idx / head_dim;
            const int d = idx - r * head_dim;
            float kx = 0.f;
            float vx = 0.f;
            if (r < n_valid) {
                const int token = row_begin + n0 + r;
                kx = to_float(k[elem_offset(token, kv_stride, head, head_dim, d)]);
                vx = to_float(v[elem_offset(token, kv_stride, head, head_dim, d)]);
            }
            sm.k[r * ld + d] = kx;
            sm.v[idx] = vx;
        }
        __syncthreads();  // K, V (and on the first tile Q, O) visible to every thread

        // ---- 2. Scores and the online softmax update, all in registers.
        float acc[Tr::ROWS_PER_THREAD];
#pragma unroll
        for (int r = 0; r < Tr::ROWS_PER_THREAD; ++r) {
            acc[r] = 0.f;
        }
        const float* k_row = sm.k + col * ld;
#pragma unroll 4
        for (int d = 0; d < head_dim; ++d) {
            const float kd = k_row[d];
#pragma unroll
            for (int r = 0; r < Tr::ROWS_PER_THREAD; ++r) {
                acc[r] = fmaf(sm.q[(row0 + r * Tr::ROW_STEP) * ld + d], kd, acc[r]);
            }
        }

        const int key = n0 + col;
#pragma unroll
        for (int r = 0; r < Tr::ROWS_PER_THREAD; ++r) {
            const int row = row0 + r * Tr::ROW_STEP;
            const int query = m0 + row;
            const bool visible = key < seqlen && (!causal || key <= query);
            const float score = visible ? acc[r] : -INFINITY;

            const float m_new = fmaxf(m_run[r], group_max<BLOCK_N>(score));
            // A row with no visible key so far has m_new = -inf; subtracting 0 instead keeps
            // exp2(-inf - -inf) = NaN out: p and alpha both come out 0.
            const float m_ref = m_new == -INFINITY ? 0.f : m_new;
            const float p = exp2f(score - m_ref);
            const float alpha = exp2f(m_run[r] - m_ref);
            l_run[r] = l_run[r] * alpha + group_sum<BLOCK_N>(p);
            m_run[r] = m_new;

            sm.p[row * BLOCK_N + col] = p;
            if (col == 0) {
                sm.alpha[row] = alpha;
            }
        }
        __syncthreads();  // p and alpha visible to the PV owners

        // ---- 3. O = O * alpha + P V. Each o element has exactly one owner, so the
        // read-modify-write needs no barrier of its own.
        for (int d = lane; d < head_dim; d += 32) {
            float out[Tr::PV_ROWS];
#pragma unroll
            for (int r = 0; r < Tr::PV_ROWS; ++r) {
                const int row = warp + r * Tr::WARPS;
                out[r] = sm.o[row * head_dim + d] * sm.alpha[row];
            }
#pragma unroll
            for (int j4 = 0; j4 < BLOCK_N; j4 += 4) {
                const float v0 = sm.v[(j4 + 0) * head_dim + d];
                const float v1 = sm.v[(j4 + 1) * head_dim + d];
                const float v2 = sm.v[(j4 + 2) * head_dim + d];
                const float v3 = sm.v[(j4 + 3) * head_dim + d];
#pragma unroll
                for (int r = 0; r < Tr::PV_ROWS; ++r) {
                    // Same address across the warp: a broadcast, 16-byte aligned (see Smem).
                    const float4 p4 = lds_f32x4(sm.p + (warp + r * Tr::WARPS) * BLOCK_N + j4);
                    out[r] = fmaf(p4.x, v0, out[r]);
                    out[r] = fmaf(p4.y, v1, out[r]);
                    out[r] = fmaf(p4.z, v2, out[r]);
                    out[r] = fmaf(p4.w, v3, out[r]);
                }
            }
#pragma unroll
            for (int r = 0; r < Tr::PV_ROWS; ++r) {
                sm.o[(warp + r * Tr::WARPS) * head_dim + d] = out[r];
            }
        }
        __syncthreads();  // PV done reading k, v, p, alpha before the next tile overwrites them
    }

    // ---- Epilogue: normalise and store. inv_l is written by one lane per query row; the o
    // elements a thread stores were written by other threads, both published by the barrier.
    if (col == 0) {
#pragma unroll
        for (int r = 0; r < Tr::ROWS_PER_THREAD; ++r) {
            const float l = l_run[r];
            sm.inv_l[row0 + r * Tr::ROW_STEP] = l > 0.f ? 1.f / l : 0.f;
        }
    }
    __syncthreads();
    for (int idx = tid; idx < m_valid * head_dim; idx += THREADS) {
        const int r = idx / head_dim;
        const int d = idx - r * head_dim;
        o[elem_offset(row_begin + m0 + r, o_stride, head, head_dim, d)] = from_float<T>(sm.o[idx] * sm.inv_l[r]);
    }
}

// Every tile width is compiled into each entry point; the choice is uniform over the grid and
// must match MemEfficientLaunch.blockN, which sized the shared memory.
template <typename T>
__device__ __forceinline__ void dispatch(const T* q, const T* k, const T* v, T* o, const int* cu_seqlens,
                                         int head_dim, int q_stride, int kv_stride, int o_stride,
                                         float scale, int causal) {
    extern __shared__ __align__(16) float smem[];
    if (head_dim <= 64) {
        fwd<T, Traits<32>>(q, k, v, o, cu_seqlens, head_dim, q_stride, kv_stride, o_stride, scale, causal,
                           smem);
    } else if (head_dim <= 128) {
        fwd<T, Traits<16>>(q, k, v, o, cu_seqlens, head_dim, q_stride, kv_stride, o_stride, scale, causal,
                           smem);
    } else {
        fwd<T, Traits<8>>(q, k, v, o, cu_seqlens, head_dim, q_stride, kv_stride, o_stride, scale, causal,
                          smem);
    }
}

}  // namespace mem_efficient
}  // namespace attune

// `heads` is part of the shared attention ABI; here the grid's y extent already spans the heads.
#define ATTUNE_MEM_EFFICIENT_ENTRY(NAME, T)                                                              \
    extern "C" __global__ void __launch_bounds__(attune::mem_efficient::kThreads)                        \
        NAME(const T* q, const T* k, const T* v, T* o, const int* cu_seqlens, int heads, int head_dim,   \
             int q_stride, int kv_stride, int o_stride, float scale, int causal) {                       \
        (void)heads;                                                                                     \
        attune::mem_efficient::dispatch<T>(q, k, v, o, cu_seqlens, head_dim, q_stride, kv_stride,        \
                                           o_stride, scale, causal);                                     \
    }

ATTUNE_MEM_EFFICIENT_ENTRY(mem_efficient_fwd_f32, float)
ATTUNE_MEM_EFFICIENT_ENTRY(mem_efficient_fwd_f16, __half)
ATTUNE_MEM_EFFICIENT_ENTRY(mem_efficient_fwd_bf16, __nv_bfloat16)

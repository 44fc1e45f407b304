// GEMM with bias and optional GELU on CUDA cores: the variant every GPU the shipped PTX runs on
// can use, for every dtype and every shape.
//
//   c(m, n) = epilogue(sum_k a(m, k) * w(n, k) + bias(n))      fp32 accumulation
//
//   a    (m, k) row-major activations
//   w    (n, k) row-major weights, as a PyTorch Linear stores them
//   bias (n) or null
//   c    (m, n) row-major
//
// Entries gemm_simt_f32, gemm_simt_f16, gemm_simt_bf16; grid (ceil(n / 64), ceil(m / 64)),
// 256 threads, Traits::SMEM_BYTES (17408) of dynamic shared memory: GemmLaunch holds the same
// numbers. Any m, n, k and any element alignment.
//
// ---------------------------------------------------------------------------------------------
// Work split. A block owns a 64 x 64 tile of c; its 256 threads form a 16 x 16 grid and thread
// (ty, tx) owns the 4 x 4 outputs rows 4 ty .. 4 ty + 3, columns 4 tx .. 4 tx + 3. The k loop walks
// BLOCK_K = 16 deep tiles.
//
// Shared memory holds both operands converted to fp32 and transposed to k-major, padded rows:
//     as[stage][kk][BLOCK_M + PAD], ws[stage][kk][BLOCK_N + PAD]      PAD = 4 floats
// so the inner product for one kk is two 16-byte loads (a column of 4 a values, a row of 4 w
// values) and 16 FMAs. A warp's two ty values read 2 distinct a vectors (broadcast) and its 16 tx
// values read 256 contiguous bytes of w (two wavefronts, the minimum for 16-byte loads). The
// stores of the transposed tiles (lane -> kk = lane % 16, row = lane / 16) hit bank
// (4 kk + row) mod 32, a 2-way conflict on 4 stores a tile against 32 conflict-free loads; PAD = 4
// keeps every row 16-byte aligned for the vector loads.
//
// Pipeline: two shared stages, staged through registers. Iteration kt issues the (guarded,
// zero-filled) global loads of tile kt + 1 into registers, computes tile kt from stage kt % 2
// while they are in flight, stores them into stage (kt + 1) % 2 and meets the barrier. That stage
// was last read in iteration kt - 1, before the barrier ending it; the barrier ending kt publishes
// tile kt + 1. One barrier per k tile.
// ---------------------------------------------------------------------------------------------

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "attune_dtypes.cuh"

namespace attune {
namespace gemm_simt {

struct Traits {
    static constexpr int BLOCK_M = 64;
    static constexpr int BLOCK_N = 64;
    static constexpr int BLOCK_K = 16;
    static constexpr int STAGES = 2;
    static constexpr int PAD = 4;                                   // floats at the end of each k line
    static constexpr int THREADS = 256;
    static constexpr int THREADS_N = 16;                            // tx
    static constexpr int THREADS_M = THREADS / THREADS_N;           // ty: 16
    static constexpr int TM = BLOCK_M / THREADS_M;                  // 4 rows a thread
    static constexpr int TN = BLOCK_N / THREADS_N;                  // 4 columns a thread
    static constexpr int LINE_M = BLOCK_M + PAD;                    // 68
    static constexpr int LINE_N = BLOCK_N + PAD;                    // 68
    static constexpr int A_FLOATS = BLOCK_K * LINE_M;
    static constexpr int W_FLOATS = BLOCK_K * LINE_N;
    static constexpr int STAGE_FLOATS = A_FLOATS + W_FLOATS;
    static constexpr int SMEM_BYTES = STAGES * STAGE_FLOATS * 4;    // 17408
    static constexpr int LOAD_ROWS_PER_PASS = THREADS / BLOCK_K;    // 16
    static constexpr int LOAD_PASSES = BLOCK_M / LOAD_ROWS_PER_PASS;  // 4 (a and w alike)

    static_assert(TM == 4 && TN == 4, "the inner product reads float4 columns");
    static_assert(PAD % 4 == 0, "k lines stay 16-byte aligned");
    static_assert(BLOCK_M == BLOCK_N, "a and w tiles share the loader layout");
    static_assert(THREADS % BLOCK_K == 0 && BLOCK_M % LOAD_ROWS_PER_PASS == 0, "loader covers the tile");
};

__device__ __forceinline__ float gelu_erf(float x) {
    return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
}

template <typename T>
__device__ __forceinline__ void gemm_body(const T* __restrict__ a, const T* __restrict__ w,
                                          const T* __restrict__ bias, T* __restrict__ c, int m, int n, int k,
                                          int epilogue) {
    using Tr = Traits;
    extern __shared__ __align__(16) float smem_f[];

    const int m0 = blockIdx.y * Tr::BLOCK_M;
    const int n0 = blockIdx.x * Tr::BLOCK_N;
    if (m0 >= m || n0 >= n) {
        return;  // uniform across the block, before any barrier
    }
    const int tid = threadIdx.x;
    const int tx = tid % Tr::THREADS_N;
    const int ty = tid / Tr::THREADS_N;

    // Loader: thread t copies element kk = t % 16 of rows t / 16 + 16 p of both operands.
    const int ld_k = tid % Tr::BLOCK_K;
    const int ld_row = tid / Tr::BLOCK_K;

    float ra[Tr::LOAD_PASSES];
    float rw[Tr::LOAD_PASSES];
    auto load = [&](int k0) {
        const int kk = k0 + ld_k;
        const bool k_ok = kk < k;
#pragma unroll
        for (int p = 0; p < Tr::LOAD_PASSES; ++p) {
            const int row = ld_row + p * Tr::LOAD_ROWS_PER_PASS;
            ra[p] = k_ok && m0 + row < m ? to_float(a[static_cast<long long>(m0 + row) * k + kk]) : 0.0f;
            rw[p] = k_ok && n0 + row < n ? to_float(w[static_cast<long long>(n0 + row) * k + kk]) : 0.0f;
        }
    };
    auto store = [&](int stage) {
        float* as = smem_f + stage * Tr::STAGE_FLOATS;
        float* ws = as + Tr::A_FLOATS;
#pragma unroll
        for (int p = 0; p < Tr::LOAD_PASSES; ++p) {
            const int row = ld_row + p * Tr::LOAD_ROWS_PER_PASS;
            as[ld_k * Tr::LINE_M + row] = ra[p];
            ws[ld_k * Tr::LINE_N + row] = rw[p];
        }
    };

    float acc[Tr::TM][Tr::TN];
#pragma unroll
    for (int i = 0; i < Tr::TM; ++i) {
#pragma unroll
        for (int j = 0; j < Tr::TN; ++j) {
            acc[i][j] = 0.0f;
        }
    }

    const int ktiles = (k + Tr::BLOCK_K - 1) / Tr::BLOCK_K;
    load(0);
    store(0);
    __syncthreads();  // tile 0 visible to every thread

    for (int kt = 0; kt < ktiles; ++kt) {
        const int stage = kt & 1;
        const bool has_next = kt + 1 < ktiles;
        if (has_next) {
            load((kt + 1) * Tr::BLOCK_K);  // in flight during the FMAs below
        }
        const float* as = smem_f + stage * Tr::STAGE_FLOATS;
        const float* ws = as + Tr::A_FLOATS;
#pragma unroll
        for (int kk = 0; kk < Tr::BLOCK_K; ++kk) {
            const float4 av = *reinterpret_cast<const float4*>(as + kk * Tr::LINE_M + ty * Tr::TM);
            const float4 wv = *reinterpret_cast<const float4*>(ws + kk * Tr::LINE_N + tx * Tr::TN);
            const float ar[Tr::TM] = {av.x, av.y, av.z, av.w};
            const float wr[Tr::TN] = {wv.x, wv.y, wv.z, wv.w};
#pragma unroll
            for (int i = 0; i < Tr::TM; ++i) {
#pragma unroll
                for (int j = 0; j < Tr::TN; ++j) {
                    acc[i][j] = fmaf(ar[i], wr[j], acc[i][j]);
                }
            }
        }
        if (has_next) {
            store(stage ^ 1);  // last read in iteration kt - 1, before the barrier ending it
        }
        __syncthreads();  // tile kt + 1 published; every thread is done with this stage
    }

    const bool gelu = epilogue == 1;
    float b[Tr::TN];
#pragma unroll
    for (int j = 0; j < Tr::TN; ++j) {
        const int col = n0 + tx * Tr::TN + j;
        b[j] = bias != nullptr && col < n ? to_float(bias[col]) : 0.0f;
    }
#pragma unroll
    for (int i = 0; i < Tr::TM; ++i) {
        const int row = m0 + ty * Tr::TM + i;
        if (row >= m) {
            break;
        }
#pragma unroll
        for (int j = 0; j < Tr::TN; ++j) {
            const int col = n0 + tx * Tr::TN + j;
            if (col < n) {
                float v = acc[i][j] + b[j];
                if (gelu) {
                    v = gelu_erf(v);
                }
                c[static_cast<long long>(row) * n + col] = from_float<T>(v);
            }
        }
    }
}

}  // namespace gemm_simt
}  // namespace attune

#define ATTUNE_GEMM_SIMT(SUFFIX, T)                                                                                \
    extern "C" __global__ void __launch_bounds__(attune::gemm_simt::Traits::THREADS, 3)                            \
        gemm_simt_##SUFFIX(const T* __restrict__ a, const T* __restrict__ w, const T* __restrict__ bias,           \
                           T* __restrict__ c, int m, int n, int k, int epilogue) {                                 \
        attune::gemm_simt::gemm_body<T>(a, w, bias, c, m, n, k, epilogue);                                         \
    }

ATTUNE_GEMM_SIMT(f32, float)
ATTUNE_GEMM_SIMT(f16, __half)
ATTUNE_GEMM_SIMT(bf16, __nv_bfloat16)

#undef ATTUNE_GEMM_SIMT

// GEMM with bias and optional GELU on Ampere-and-newer tensor cores.
//
//   c(m, n) = epilogue(sum_k a(m, k) * w(n, k) + bias(n))      fp32 accumulation
//
//   a    (m, k) row-major activations
//   w    (n, k) row-major weights, as a PyTorch Linear stores them (so B = wᵀ is "column-major")
//   bias (n) or null
//   c    (m, n) row-major
//
// Entries gemm_sm80_f16 and gemm_sm80_bf16; grid (ceil(n / 128), ceil(m / 128)), 256 threads,
// Traits::SMEM_BYTES (49152) of dynamic shared memory: GemmLaunch holds the same numbers.
// Requirements: n and k multiples of 8 and a, w, c 16-byte aligned, so every 8-element chunk of a
// row is one aligned 16-byte vector that lies entirely inside or entirely outside the matrix.
// Any m; m and n need not be multiples of the tile, k need not be a multiple of BLOCK_K.
//
// ---------------------------------------------------------------------------------------------
// Block and warp tiling, fragment loads, shared-memory swizzle and epilogue: gemm_tile.cuh. Each
// 16-deep k-step is one mma.m16n8k16 per 16 x 8 C fragment, a0..a3 from the a ldmatrix.x4 and
// {b0, b1} from half of a w ldmatrix.x4. A stage is one a tile and one w tile; 3 stages.
//
// Pipeline (STAGES = 3, cp.async with zero fill). The prologue issues tiles 0 and 1, one commit
// group each. Iteration kt waits until at most STAGES - 2 groups are pending (so tile kt has
// landed for this thread), then __syncthreads makes every thread's copies of tile kt visible and
// also proves every warp has finished iteration kt - 1, whose stage (kt - 1) % 3 = (kt + 2) % 3 is
// the one refilled with tile kt + 2 right after the barrier. One barrier per k tile. A group is
// committed every iteration even when it is empty, so the group count stays in step with kt.
//
// Epilogue (gemm_tile.cuh) after the last tile and a barrier: other warps may still read the last
// stage that the c tile overwrites.
// ---------------------------------------------------------------------------------------------

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <stdint.h>

#include "gemm_tile.cuh"
#include "tensor_core.cuh"

namespace attune {
namespace gemm_sm80 {

struct Traits : gemm_tile::TileTraits {
    static constexpr int STAGES = 3;
    static constexpr int SMEM_BYTES = STAGES * STAGE_BYTES;       // 49152

    static_assert(C_BYTES <= SMEM_BYTES, "the c tile reuses the pipeline memory");
};

// Issues the cp.async copies of one k tile of a and w into a stage. Thread t copies chunk t % 4 of
// rows t / 4 + 64 p (p < LOAD_PASSES) of both tiles; chunks past m, n or k are zero-filled.
template <typename T>
struct TileLoader {
    using Tr = Traits;
    const T* a_row[Tr::LOAD_PASSES];   // row start of a, k0 = 0; clamped into the matrix
    const T* w_row[Tr::LOAD_PASSES];
    bool a_ok[Tr::LOAD_PASSES];
    bool w_ok[Tr::LOAD_PASSES];
    const T* a_base;
    const T* w_base;
    int kcol;                          // first element of this thread's chunk within a k tile
    uint32_t dst;                      // byte offset of the first pass within a tile

    __device__ __forceinline__ TileLoader(const T* a, const T* w, int m, int n, int k, int m0, int n0, int tid)
        : a_base(a), w_base(w) {
        const int row = tid / Tr::CHUNKS_PER_ROW;
        const int chunk = tid % Tr::CHUNKS_PER_ROW;
        kcol = chunk * Tr::CHUNK;
        dst = gemm_tile::tile_offset(row, chunk);
#pragma unroll
        for (int p = 0; p < Tr::LOAD_PASSES; ++p) {
            const int r = row + p * Tr::LOAD_ROWS_PER_PASS;
            a_ok[p] = m0 + r < m;
            w_ok[p] = n0 + r < n;
            a_row[p] = a + static_cast<long long>(a_ok[p] ? m0 + r : 0) * k;
            w_row[p] = w + static_cast<long long>(w_ok[p] ? n0 + r : 0) * k;
        }
    }

    __device__ __forceinline__ void load(uint32_t stage, int k0, int k) const {
        const bool k_ok = k0 + kcol < k;
#pragma unroll
        for (int p = 0; p < Tr::LOAD_PASSES; ++p) {
            // Passes are 64 rows apart; 64 * 64 bytes leaves the swizzle bits (row bits 1..2) alone.
            const uint32_t off = dst + p * Tr::LOAD_ROWS_PER_PASS * Tr::ROW_BYTES;
            const bool ao = a_ok[p] && k_ok;
            const bool wo = w_ok[p] && k_ok;
            cp_async_16(stage + off, ao ? a_row[p] + k0 + kcol : a_base, ao ? 16 : 0);
            cp_async_16(stage + Tr::A_BYTES + off, wo ? w_row[p] + k0 + kcol : w_base, wo ? 16 : 0);
        }
    }
};

template <typename T>
__device__ __forceinline__ void gemm_body(const T* __restrict__ a, const T* __restrict__ w,
                                          const T* __restrict__ bias, T* __restrict__ c, int m, int n, int k,
                                          int epilogue) {
    using Tr = Traits;
    extern __shared__ __align__(128) unsigned char smem[];

    const gemm_tile::BlockCoords bc;
    if (!bc.has_work(m, n)) {
        return;
    }
    const uint32_t smem_base = smem_address(smem);
    TileLoader<T> loader(a, w, m, n, k, bc.m0, bc.n0, bc.tid);

    const gemm_tile::LdmatrixOffsets ld(bc);
    float acc[Tr::M_TILES][Tr::N_TILES][4];
    clear_fragments(acc);

    const int ktiles = (k + Tr::BLOCK_K - 1) / Tr::BLOCK_K;

    // Prologue: tiles 0 .. STAGES-2 in flight, one commit group each (empty past the last tile).
#pragma unroll
    for (int s = 0; s < Tr::STAGES - 1; ++s) {
        if (s < ktiles) {
            loader.load(smem_base + s * Tr::STAGE_BYTES, s * Tr::BLOCK_K, k);
        }
        cp_async_commit();
    }

    int read_stage = 0;
    int write_stage = Tr::STAGES - 1;
    for (int kt = 0; kt < ktiles; ++kt) {
        // Tile kt is this thread's oldest pending group; after the barrier every thread's part of
        // it is visible, and no warp still reads write_stage (consumed in iteration kt - 1).
        cp_async_wait<Tr::STAGES - 2>();
        __syncthreads();

        const int next = kt + Tr::STAGES - 1;
        if (next < ktiles) {
            loader.load(smem_base + write_stage * Tr::STAGE_BYTES, next * Tr::BLOCK_K, k);
        }
        cp_async_commit();

        const uint32_t stage = smem_base + read_stage * Tr::STAGE_BYTES;
#pragma unroll
        for (int ks = 0; ks < Tr::K_STEPS; ++ks) {
            uint32_t af[Tr::M_TILES][4];
            uint32_t bf[Tr::N_TILES / 2][4];
            gemm_tile::load_fragments(stage, ld, ks, af, bf);
#pragma unroll
            for (int i = 0; i < Tr::M_TILES; ++i) {
#pragma unroll
                for (int j = 0; j < Tr::N_TILES; ++j) {
                    mma_m16n8k16<T>(acc[i][j], af[i], bf[j / 2][(j % 2) * 2], bf[j / 2][(j % 2) * 2 + 1]);
                }
            }
        }

        read_stage = read_stage == Tr::STAGES - 1 ? 0 : read_stage + 1;
        write_stage = write_stage == Tr::STAGES - 1 ? 0 : write_stage + 1;
    }

    // Only empty groups can still be pending; the barrier keeps the c tile from overwriting a
    // stage another warp is still reading.
    cp_async_wait<0>();
    __syncthreads();

    gemm_tile::store_c_tile<T>(acc, smem, bias, c, m, n, bc, epilogue);
}

}  // namespace gemm_sm80
}  // namespace attune

extern "C" __global__ void __launch_bounds__(attune::gemm_sm80::Traits::THREADS, 2)
    gemm_sm80_f16(const __half* __restrict__ a, const __half* __restrict__ w, const __half* __restrict__ bias,
                  __half* __restrict__ c, int m, int n, int k, int epilogue) {
    attune::gemm_sm80::gemm_body<__half>(a, w, bias, c, m, n, k, epilogue);
}

extern "C" __global__ void __launch_bounds__(attune::gemm_sm80::Traits::THREADS, 2)
    gemm_sm80_bf16(const __nv_bfloat16* __restrict__ a, const __nv_bfloat16* __restrict__ w,
                   const __nv_bfloat16* __restrict__ bias, __nv_bfloat16* __restrict__ c, int m, int n, int k,
                   int epilogue) {
    attune::gemm_sm80::gemm_body<__nv_bfloat16>(a, w, bias, c, m, n, k, epilogue);
}

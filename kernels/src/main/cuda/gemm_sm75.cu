// GEMM with bias and optional GELU on Turing tensor cores (also runs on every later GPU).
//
//   c(m, n) = epilogue(sum_k a(m, k) * w(n, k) + bias(n))      fp32 accumulation
//
//   a    (m, k) row-major fp16 activations
//   w    (n, k) row-major fp16 weights, as a PyTorch Linear stores them
//   bias (n) or null
//   c    (m, n) row-major fp16
//
// Entry gemm_sm75_f16; grid (ceil(n / 128), ceil(m / 128)), 256 threads, Traits::SMEM_BYTES
// (32768) of dynamic shared memory: GemmLaunch holds the same numbers. Requirements: n and k
// multiples of 8 and a, w, c 16-byte aligned (every 8-element chunk is one aligned 16-byte vector,
// entirely inside or entirely outside the matrix). Any m; ragged m, n and k tiles are handled.
//
// ---------------------------------------------------------------------------------------------
// Block and warp tiling, fragment loads, shared-memory swizzle and epilogue: gemm_tile.cuh, shared
// with gemm_sm80. Turing has no cp.async and no m16n8k16, so each 16-deep k-step is two
// mma.m16n8k8 per 16 x 8 C fragment: registers {0, 1} of the a ldmatrix.x4 are {a0, a1} of the
// k 0-7 mma and {2, 3} those of the k 8-15 mma; the w ldmatrix.x4 gives b0 of both k8 mmas of the
// first n8 tile, then of the second.
//
// Pipeline: two shared stages, staged through registers. Iteration kt runs the two k-steps of tile
// kt from stage kt % 2; before k-step 0 it issues the 16-byte ld.global.nc loads of tile kt + 1's
// a chunks (zeros past m or k), after k-step 0 it stores them into stage (kt + 1) % 2, and k-step 1
// does the same for w. Staging one operand at a time keeps 8 registers, not 16, in flight, which
// is what lets 64 accumulators, two k-steps of fragments and the staging fit 128 registers (two
// blocks an SM) with no spills. The stores overwrite the stage iteration kt - 1 read, which is
// safe because every warp passed the barrier that ended kt - 1; the barrier that ends kt
// publishes tile kt + 1 before iteration kt + 1 reads it. One barrier per k tile.
//
// Epilogue (gemm_tile.cuh): the two stages (32 KiB) are reused as the c tile; the barrier ending the
// last iteration already guarantees no warp still reads them.
// ---------------------------------------------------------------------------------------------

#include <cuda_fp16.h>
#include <stdint.h>

#include "gemm_tile.cuh"
#include "tensor_core.cuh"

namespace attune {
namespace gemm_sm75 {

struct Traits : gemm_tile::TileTraits {
    static constexpr int STAGES = 2;
    static constexpr int SMEM_BYTES = STAGES * STAGE_BYTES;       // 32768

    static_assert(STAGES == 2, "the register-staged pipeline alternates two stages");
    static_assert(K_STEPS == 2, "k-step 0 stages the next a tile, k-step 1 the next w tile");
    static_assert(C_BYTES <= SMEM_BYTES, "the c tile reuses the pipeline memory");
};

// Which operand a staging step moves: one k tile of a, or one of w.
enum Operand : int { OPERAND_A = 0, OPERAND_W = 1 };

// Copies one operand's k tile global -> registers -> shared. Thread t moves chunk t % 4 of rows
// t / 4 + 64 p (p < LOAD_PASSES); chunks past m (or n) or k are zeros. Addresses are recomputed
// from the kernel parameters (which live in the constant bank) rather than kept as 64-bit pointers:
// registers are the scarce resource at two blocks an SM.
struct TileLoader {
    using Tr = Traits;
    const __half* a;
    const __half* w;
    int a_row;                              // first global row of a this thread copies (pass 0)
    int w_row;                              // first global row of w (pass 0)
    int m, n, k;
    int kcol;                               // this thread's chunk within a k tile, in elements
    uint32_t dst;                           // byte offset of pass 0 within an operand's tile

    __device__ __forceinline__ TileLoader(const __half* a_, const __half* w_, int m_, int n_, int k_, int m0,
                                          int n0, int tid)
        : a(a_), w(w_), m(m_), n(n_), k(k_) {
        const int row = tid / Tr::CHUNKS_PER_ROW;
        const int chunk = tid % Tr::CHUNKS_PER_ROW;
        a_row = m0 + row;
        w_row = n0 + row;
        kcol = chunk * Tr::CHUNK;
        dst = gemm_tile::tile_offset(row, chunk);
    }

    __device__ __forceinline__ void load(Operand op, uint4 (&r)[Tr::LOAD_PASSES], int k0) const {
        const __half* src = op == OPERAND_A ? a : w;
        const int row0 = op == OPERAND_A ? a_row : w_row;
        const int rows = op == OPERAND_A ? m : n;
        const int kk = k0 + kcol;
        const bool k_ok = kk < k;
#pragma unroll
        for (int p = 0; p < Tr::LOAD_PASSES; ++p) {
            const int row = row0 + p * Tr::LOAD_ROWS_PER_PASS;
            r[p] = row < rows && k_ok ? __ldg(reinterpret_cast<const uint4*>(src + static_cast<long long>(row) * k + kk))
                                      : make_uint4(0u, 0u, 0u, 0u);
        }
    }

    __device__ __forceinline__ void store(unsigned char* stage, Operand op, const uint4 (&r)[Tr::LOAD_PASSES]) const {
        unsigned char* tile = stage + (op == OPERAND_A ? 0 : Tr::A_BYTES);
#pragma unroll
        for (int p = 0; p < Tr::LOAD_PASSES; ++p) {
            // Passes are 64 rows apart: the swizzle bits (row bits 1..2) are unchanged.
            *reinterpret_cast<uint4*>(tile + dst + p * Tr::LOAD_ROWS_PER_PASS * Tr::ROW_BYTES) = r[p];
        }
    }
};

__device__ __forceinline__ void gemm_body(const __half* __restrict__ a, const __half* __restrict__ w,
                                          const __half* __restrict__ bias, __half* __restrict__ c, int m, int n,
                                          int k, int epilogue) {
    using Tr = Traits;
    extern __shared__ __align__(128) unsigned char smem[];

    const gemm_tile::BlockCoords bc;
    if (!bc.has_work(m, n)) {
        return;
    }
    const uint32_t smem_base = smem_address(smem);
    const TileLoader loader(a, w, m, n, k, bc.m0, bc.n0, bc.tid);

    const gemm_tile::LdmatrixOffsets ld(bc);
    float acc[Tr::M_TILES][Tr::N_TILES][4];
    clear_fragments(acc);

    const int ktiles = (k + Tr::BLOCK_K - 1) / Tr::BLOCK_K;
    uint4 staged[Tr::LOAD_PASSES];
    loader.load(OPERAND_A, staged, 0);
    loader.store(smem, OPERAND_A, staged);
    loader.load(OPERAND_W, staged, 0);
    loader.store(smem, OPERAND_W, staged);
    __syncthreads();  // tile 0 visible to every warp

    for (int kt = 0; kt < ktiles; ++kt) {
        const int read_stage = kt & 1;
        const bool has_next = kt + 1 < ktiles;
        const uint32_t stage = smem_base + read_stage * Tr::STAGE_BYTES;
        unsigned char* next_stage = smem + (read_stage ^ 1) * Tr::STAGE_BYTES;
#pragma unroll
        for (int ks = 0; ks < Tr::K_STEPS; ++ks) {
            // k-step 0 hides the global loads of the next tile's a, k-step 1 those of its w.
            const Operand op = ks == 0 ? OPERAND_A : OPERAND_W;
            if (has_next) {
                loader.load(op, staged, (kt + 1) * Tr::BLOCK_K);
            }

            uint32_t af[Tr::M_TILES][4];
            uint32_t bf[Tr::N_TILES / 2][4];
            gemm_tile::load_fragments(stage, ld, ks, af, bf);
#pragma unroll
            for (int i = 0; i < Tr::M_TILES; ++i) {
#pragma unroll
                for (int j = 0; j < Tr::N_TILES; ++j) {
                    const uint32_t* b = &bf[j / 2][(j % 2) * 2];
                    mma_m16n8k8_f16(acc[i][j], af[i][0], af[i][1], b[0]);  // k 0..7 of this step
                    mma_m16n8k8_f16(acc[i][j], af[i][2], af[i][3], b[1]);  // k 8..15
                }
            }

            if (has_next) {
                // The other stage was last read in iteration kt - 1, before the barrier ending it.
                loader.store(next_stage, op, staged);
            }
        }
        __syncthreads();  // tile kt + 1 published; every warp is done with stage kt % 2
    }

    // The barrier ending the last iteration (or the prologue's when ktiles = 0) guarantees no warp
    // still reads the stages the c tile now overwrites.
    gemm_tile::store_c_tile<__half>(acc, smem, bias, c, m, n, bc, epilogue);
}

}  // namespace gemm_sm75
}  // namespace attune

extern "C" __global__ void __launch_bounds__(attune::gemm_sm75::Traits::THREADS, 2)
    gemm_sm75_f16(const __half* __restrict__ a, const __half* __restrict__ w, const __half* __restrict__ bias,
                  __half* __restrict__ c, int m, int n, int k, int epilogue) {
    attune::gemm_sm75::gemm_body(a, w, bias, c, m, n, k, epilogue);
}

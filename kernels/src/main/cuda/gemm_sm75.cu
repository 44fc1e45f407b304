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
// Same block and warp tiling as gemm_sm80 (block 128 x 128 x 32, 8 warps as 2 (m) x 4 (n), 64 x 32
// outputs a warp), with the Turing instruction set: no cp.async and no m16n8k16, so
//
// mma.sync.aligned.m16n8k8.row.col.f32.f16.f16.f32 fragments; lane = 4 * g + q:
//   A (16 x 8, row-major)  a0 = {A[g][2q], A[g][2q+1]}     a1 = {A[g+8][2q], A[g+8][2q+1]}
//   B (8 x 8, "col")       b0 = {B[2q][g], B[2q+1][g]}
//   C (16 x 8)             c0, c1 = C[g][2q], C[g][2q+1]   c2, c3 = C[g+8][2q], C[g+8][2q+1]
// with B[kk][nn] = w[nn][kk]. One k-step of 16 is two of these mmas. The ldmatrix.x4 loads are
// the sm80 ones: for a, lane l points at row (l % 16), k-chunk (l / 16), giving the registers
// (rows 0-7, k 0-7), (rows 8-15, k 0-7), (rows 0-7, k 8-15), (rows 8-15, k 8-15) = {a0, a1} of
// the first k8 mma and {a0, a1} of the second; for w, lane l points at w row (l % 8) + 8 (l / 16),
// k-chunk (l / 8) % 2, giving (n 0-7, k 0-7), (n 0-7, k 8-15), (n 8-15, k 0-7), (n 8-15, k 8-15)
// = b0 of both k8 mmas of the first n8 tile, then of the second.
//
// Shared memory: 64-byte rows of four 16-byte chunks, chunk index XOR-swizzled with row bits 1..2:
//     byte offset (row, chunk) = row * 64 + ((chunk ^ ((row >> 1) & 3)) * 16)
// so the 8 consecutive rows of one ldmatrix phase (and the 2 rows x 4 chunks 8 lanes store) cover
// all 8 bank groups: conflict-free (derivation in gemm_sm80.cu).
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
// Epilogue: the two stages (32 KiB) are reused as the 128 x 128 c tile (the barrier ending the
// last iteration already guarantees no warp still reads them). Bias and GELU are applied in
// registers, pairs are stored with the chunk swizzle chunk ^ (row & 7) (16 chunks a row), and
// 16-byte vectors are copied out row by row: both sides conflict-free, all global stores whole
// 16-byte vectors.
// ---------------------------------------------------------------------------------------------

#include <cuda_fp16.h>
#include <stdint.h>

#include "attune_dtypes.cuh"

namespace attune {
namespace gemm_sm75 {

struct Traits {
    static constexpr int BLOCK_M = 128;
    static constexpr int BLOCK_N = 128;
    static constexpr int BLOCK_K = 32;
    static constexpr int STAGES = 2;
    static constexpr int WARPS_M = 2;
    static constexpr int WARPS_N = 4;
    static constexpr int THREADS = WARPS_M * WARPS_N * 32;        // 256
    static constexpr int WARP_M = BLOCK_M / WARPS_M;              // 64
    static constexpr int WARP_N = BLOCK_N / WARPS_N;              // 32
    static constexpr int MMA_M = 16;
    static constexpr int MMA_N = 8;
    static constexpr int LDSM_K = 16;                             // k covered by one ldmatrix.x4
    static constexpr int M_TILES = WARP_M / MMA_M;                // 4
    static constexpr int N_TILES = WARP_N / MMA_N;                // 4
    static constexpr int K_STEPS = BLOCK_K / LDSM_K;              // 2 (each two m16n8k8 mmas)
    static constexpr int CHUNK = 8;                               // elements in 16 bytes
    static constexpr int ROW_BYTES = BLOCK_K * 2;                 // 64
    static constexpr int CHUNKS_PER_ROW = BLOCK_K / CHUNK;        // 4
    static constexpr int A_BYTES = BLOCK_M * ROW_BYTES;           // 8192
    static constexpr int W_BYTES = BLOCK_N * ROW_BYTES;           // 8192
    static constexpr int STAGE_BYTES = A_BYTES + W_BYTES;         // 16384
    static constexpr int SMEM_BYTES = STAGES * STAGE_BYTES;       // 32768
    static constexpr int LOAD_ROWS_PER_PASS = THREADS / CHUNKS_PER_ROW;   // 64
    static constexpr int LOAD_PASSES = BLOCK_M / LOAD_ROWS_PER_PASS;      // 2
    static constexpr int C_ROW_BYTES = BLOCK_N * 2;               // 256
    static constexpr int C_CHUNKS_PER_ROW = BLOCK_N / CHUNK;      // 16
    static constexpr int C_BYTES = BLOCK_M * C_ROW_BYTES;         // 32768
    static constexpr int C_PASSES = BLOCK_M * C_CHUNKS_PER_ROW / THREADS;  // 8

    static_assert(BLOCK_M == BLOCK_N, "a and w tiles share the loader layout");
    static_assert(CHUNKS_PER_ROW == 4, "the swizzle below is derived for 64-byte rows");
    static_assert(THREADS % CHUNKS_PER_ROW == 0 && BLOCK_M % LOAD_ROWS_PER_PASS == 0, "loader covers the tile");
    static_assert(STAGES == 2, "the register-staged pipeline alternates two stages");
    static_assert(K_STEPS == 2, "k-step 0 stages the next a tile, k-step 1 the next w tile");
    static_assert(C_BYTES <= SMEM_BYTES, "the c tile reuses the pipeline memory");
    static_assert(C_CHUNKS_PER_ROW >= 8, "the c swizzle needs at least 8 chunks a row");
};

__device__ __forceinline__ uint32_t tile_offset(int row, int chunk) {
    return static_cast<uint32_t>(row * Traits::ROW_BYTES + ((chunk ^ ((row >> 1) & 3)) << 4));
}

__device__ __forceinline__ uint32_t c_offset(int row, int chunk) {
    return static_cast<uint32_t>(row * Traits::C_ROW_BYTES + ((chunk ^ (row & 7)) << 4));
}

__device__ __forceinline__ uint32_t shared_address(const void* p) {
    return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], uint32_t addr) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(addr)
                 : "memory");
}

__device__ __forceinline__ void mma_m16n8k8(float (&d)[4], uint32_t a0, uint32_t a1, uint32_t b0) {
    asm("mma.sync.aligned.m16n8k8.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5}, {%6}, {%0, %1, %2, %3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a0), "r"(a1), "r"(b0));
}

__device__ __forceinline__ uint32_t pack2(float lo, float hi) {
    return static_cast<uint32_t>(__half_as_ushort(from_float<__half>(lo))) |
           (static_cast<uint32_t>(__half_as_ushort(from_float<__half>(hi))) << 16);
}

__device__ __forceinline__ float gelu_erf(float x) {
    return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
}

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
        dst = tile_offset(row, chunk);
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

    const int m0 = blockIdx.y * Tr::BLOCK_M;
    const int n0 = blockIdx.x * Tr::BLOCK_N;
    if (m0 >= m || n0 >= n) {
        return;  // uniform across the block, before any barrier
    }
    const int tid = threadIdx.x;
    const int lane = tid & 31;
    const int warp = tid >> 5;
    const int warp_m = warp / Tr::WARPS_N;
    const int warp_n = warp % Tr::WARPS_N;

    const uint32_t smem_base = shared_address(smem);
    const TileLoader loader(a, w, m, n, k, m0, n0, tid);

    // ldmatrix source offsets within a stage, one per k-step of 16 (see gemm_sm80.cu).
    const int swz = (lane >> 1) & 3;
    uint32_t a_ld[Tr::K_STEPS];
    uint32_t w_ld[Tr::K_STEPS];
#pragma unroll
    for (int ks = 0; ks < Tr::K_STEPS; ++ks) {
        const int a_row = warp_m * Tr::WARP_M + (lane & 15);
        const int a_chunk = ks * 2 + (lane >> 4);
        a_ld[ks] = static_cast<uint32_t>(a_row * Tr::ROW_BYTES + ((a_chunk ^ swz) << 4));
        const int w_row = warp_n * Tr::WARP_N + (lane & 7) + ((lane >> 4) << 3);
        const int w_chunk = ks * 2 + ((lane >> 3) & 1);
        w_ld[ks] = static_cast<uint32_t>(Tr::A_BYTES + w_row * Tr::ROW_BYTES + ((w_chunk ^ swz) << 4));
    }

    float acc[Tr::M_TILES][Tr::N_TILES][4];
#pragma unroll
    for (int i = 0; i < Tr::M_TILES; ++i) {
#pragma unroll
        for (int j = 0; j < Tr::N_TILES; ++j) {
#pragma unroll
            for (int e = 0; e < 4; ++e) {
                acc[i][j][e] = 0.0f;
            }
        }
    }

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
#pragma unroll
            for (int i = 0; i < Tr::M_TILES; ++i) {
                ldmatrix_x4(af[i], stage + a_ld[ks] + i * Tr::MMA_M * Tr::ROW_BYTES);
            }
#pragma unroll
            for (int j = 0; j < Tr::N_TILES / 2; ++j) {
                ldmatrix_x4(bf[j], stage + w_ld[ks] + j * 2 * Tr::MMA_N * Tr::ROW_BYTES);
            }
#pragma unroll
            for (int i = 0; i < Tr::M_TILES; ++i) {
#pragma unroll
                for (int j = 0; j < Tr::N_TILES; ++j) {
                    const uint32_t* b = &bf[j / 2][(j % 2) * 2];
                    mma_m16n8k8(acc[i][j], af[i][0], af[i][1], b[0]);  // k 0..7 of this step
                    mma_m16n8k8(acc[i][j], af[i][2], af[i][3], b[1]);  // k 8..15
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
    const int g = lane >> 2;
    const int q = lane & 3;
    const bool gelu = epilogue == 1;
#pragma unroll
    for (int j = 0; j < Tr::N_TILES; ++j) {
        const int col = warp_n * Tr::WARP_N + j * Tr::MMA_N + 2 * q;
        float b0 = 0.0f;
        float b1 = 0.0f;
        if (bias != nullptr && n0 + col < n) {  // n is a multiple of 8, so col + 1 is in range too
            b0 = to_float(bias[n0 + col]);
            b1 = to_float(bias[n0 + col + 1]);
        }
#pragma unroll
        for (int i = 0; i < Tr::M_TILES; ++i) {
#pragma unroll
            for (int h = 0; h < 2; ++h) {
                const int row = warp_m * Tr::WARP_M + i * Tr::MMA_M + g + 8 * h;
                float v0 = acc[i][j][2 * h] + b0;
                float v1 = acc[i][j][2 * h + 1] + b1;
                if (gelu) {
                    v0 = gelu_erf(v0);
                    v1 = gelu_erf(v1);
                }
                *reinterpret_cast<uint32_t*>(smem + c_offset(row, col / Tr::CHUNK) + (col % Tr::CHUNK) * 2) =
                    pack2(v0, v1);
            }
        }
    }
    __syncthreads();  // the whole c tile is staged before any thread copies rows out

#pragma unroll
    for (int p = 0; p < Tr::C_PASSES; ++p) {
        const int idx = tid + p * Tr::THREADS;
        const int row = idx / Tr::C_CHUNKS_PER_ROW;
        const int chunk = idx % Tr::C_CHUNKS_PER_ROW;
        const int gm = m0 + row;
        const int gn = n0 + chunk * Tr::CHUNK;
        if (gm < m && gn < n) {
            const uint4 v = *reinterpret_cast<const uint4*>(smem + c_offset(row, chunk));
            *reinterpret_cast<uint4*>(c + static_cast<long long>(gm) * n + gn) = v;
        }
    }
}

}  // namespace gemm_sm75
}  // namespace attune

extern "C" __global__ void __launch_bounds__(attune::gemm_sm75::Traits::THREADS, 2)
    gemm_sm75_f16(const __half* __restrict__ a, const __half* __restrict__ w, const __half* __restrict__ bias,
                  __half* __restrict__ c, int m, int n, int k, int epilogue) {
    attune::gemm_sm75::gemm_body(a, w, bias, c, m, n, k, epilogue);
}

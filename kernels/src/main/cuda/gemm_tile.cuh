// The tile geometry both tensor-core GEMMs (gemm_sm80.cu, gemm_sm75.cu) share, and the parts of
// their bodies that depend on nothing else: shared-memory swizzles, per-lane ldmatrix offsets,
// fragment loads, accumulators, and the bias + GELU epilogue. The two kernels differ only in how
// tiles reach shared memory (cp.async ring vs. register staging) and in the mma shape that
// consumes the fragments (one m16n8k16 vs. two m16n8k8 per 16-deep k-step).
//
//   c(m, n) = epilogue(sum_k a(m, k) * w(n, k) + bias(n))      fp32 accumulation
//   a (m, k) and w (n, k) row-major, so B = wᵀ is "col" and B[kk][nn] = w[nn][kk]
//
// Work split. A block owns a 128 x 128 tile of c. Its 8 warps form a 2 (m) x 4 (n) grid; a warp
// owns 64 x 32 outputs = 4 (m) x 4 (n) C fragments of 16 x 8 (tensor_core.cuh), 64 fp32
// accumulators a thread. The k loop walks BLOCK_K = 32 deep tiles, each two k-steps of 16.
//
// Fragments of one 16-deep k-step (tensor_core.cuh for the fragment and ldmatrix layouts):
//   A, one ldmatrix.x4 per 16 rows: lane l points at row (l % 16), k-chunk (l / 16); the matrices
//     are (rows 0-7, k 0-7), (rows 8-15, k 0-7), (rows 0-7, k 8-15), (rows 8-15, k 8-15) = a0..a3
//     of m16n8k16, or {a0, a1} of the k 0-7 and of the k 8-15 m16n8k8.
//   W, one ldmatrix.x4 per 16 (n) rows: lane l points at w row (l % 8) + 8 (l / 16), k-chunk
//     (l / 8) % 2; the matrices are (n 0-7, k 0-7), (n 0-7, k 8-15), (n 8-15, k 0-7),
//     (n 8-15, k 8-15). b0 = {B[2t][g], B[2t+1][g]} = two k-consecutive elements of one w row, so
//     w is read exactly like a, with no transpose: registers {0, 1} are {b0, b1} of the first n8
//     tile (or b0 of its two k8 mmas), {2, 3} those of the second.
//
// Shared memory. A stage holds the a tile (128 rows x 32 halves = 64 bytes a row) followed by the
// w tile (same shape). A row is four 16-byte chunks. Unswizzled, the 8 rows one ldmatrix phase
// reads (same chunk, 8 consecutive rows) would fall on only 2 of the 8 bank groups of 16 bytes
// (rows r and r + 2 are 128 bytes apart). The chunk index is therefore XOR-swizzled with bits
// 1..2 of the row:
//     byte offset (row, chunk) = row * 64 + ((chunk ^ ((row >> 1) & 3)) * 16)
// The bank group of (row, chunk) is 4 (row & 1) + (chunk ^ ((row >> 1) & 3)) (mod 8); over 8
// consecutive rows starting at a multiple of 8, (row & 1, (row >> 1) & 3) takes all 8 values, so
// ldmatrix phases and the loaders' 16-byte writes (8 lanes = 2 rows x 4 chunks) are conflict-free.
// The pattern holds for any 16-byte aligned base, since a base offset only rotates the bank groups.
//
// Epilogue. The pipeline memory is reused as a 128 x 128 tile of T (32 KiB): each thread adds the
// bias, applies GELU, rounds to T and stores its pairs; then 16-byte vectors are copied row by row
// to global memory, so every warp writes whole 128-byte lines. The c tile's 16 chunks a row are
// swizzled by chunk ^ (row & 7): the fragment stores (8 rows g, one chunk, 4 lanes each) and the
// vector reads (8 lanes read 8 chunks of one row) then both touch 8 distinct bank groups.
#pragma once

#include <stdint.h>

#include "activation.cuh"
#include "attune_dtypes.cuh"
#include "tensor_core.cuh"

namespace attune {
namespace gemm_tile {

// Geometry common to both GEMMs; each kernel's Traits adds its pipeline depth (STAGES) and the
// shared memory that implies.
struct TileTraits {
    static constexpr int BLOCK_M = 128;
    static constexpr int BLOCK_N = 128;
    static constexpr int BLOCK_K = 32;
    static constexpr int WARPS_M = 2;
    static constexpr int WARPS_N = 4;
    static constexpr int THREADS = WARPS_M * WARPS_N * 32;        // 256
    static constexpr int WARP_M = BLOCK_M / WARPS_M;              // 64
    static constexpr int WARP_N = BLOCK_N / WARPS_N;              // 32
    static constexpr int MMA_M = 16;                              // rows of a C fragment
    static constexpr int MMA_N = 8;                               // columns of a C fragment
    static constexpr int K_STEP = 16;                             // k of one a / w ldmatrix.x4
    static constexpr int M_TILES = WARP_M / MMA_M;                // 4
    static constexpr int N_TILES = WARP_N / MMA_N;                // 4
    static constexpr int K_STEPS = BLOCK_K / K_STEP;              // 2
    static constexpr int CHUNK = 8;                               // elements in 16 bytes
    static constexpr int ROW_BYTES = BLOCK_K * 2;                 // 64: one smem row of a or w
    static constexpr int CHUNKS_PER_ROW = BLOCK_K / CHUNK;        // 4
    static constexpr int A_BYTES = BLOCK_M * ROW_BYTES;           // 8192
    static constexpr int W_BYTES = BLOCK_N * ROW_BYTES;           // 8192
    static constexpr int STAGE_BYTES = A_BYTES + W_BYTES;         // 16384
    static constexpr int LOAD_ROWS_PER_PASS = THREADS / CHUNKS_PER_ROW;   // 64
    static constexpr int LOAD_PASSES = BLOCK_M / LOAD_ROWS_PER_PASS;      // 2 (a and w alike)
    static constexpr int C_ROW_BYTES = BLOCK_N * 2;               // 256
    static constexpr int C_CHUNKS_PER_ROW = BLOCK_N / CHUNK;      // 16
    static constexpr int C_BYTES = BLOCK_M * C_ROW_BYTES;         // 32768
    static constexpr int C_PASSES = BLOCK_M * C_CHUNKS_PER_ROW / THREADS;  // 8

    static_assert(BLOCK_M == BLOCK_N, "a and w tiles share the loader layout");
    static_assert(CHUNKS_PER_ROW == 4, "the swizzle is derived for 64-byte rows");
    static_assert(THREADS % CHUNKS_PER_ROW == 0 && BLOCK_M % LOAD_ROWS_PER_PASS == 0, "loader covers the tile");
    static_assert(C_CHUNKS_PER_ROW >= 8, "the c swizzle needs at least 8 chunks a row");
    static_assert(WARP_M % 16 == 0 && WARP_N % 16 == 0, "ldmatrix x4 covers 16 rows of a and of w");
    static_assert(N_TILES % 2 == 0, "one w ldmatrix.x4 feeds two n8 tiles");
};

using Tr = TileTraits;

// What this block and this thread's warp own, for the grid (ceil(n / BLOCK_N), ceil(m / BLOCK_M))
// of 256-thread blocks that GemmLaunch launches.
struct BlockCoords {
    int m0;      // first row of c (and of a) of the block's tile
    int n0;      // first column of c (row of w)
    int tid;
    int lane;
    int warp_m;  // the warp's place in the WARPS_M x WARPS_N grid
    int warp_n;

    __device__ __forceinline__ BlockCoords()
        : m0(blockIdx.y * Tr::BLOCK_M),
          n0(blockIdx.x * Tr::BLOCK_N),
          tid(threadIdx.x),
          lane(tid & 31),
          warp_m((tid >> 5) / Tr::WARPS_N),
          warp_n((tid >> 5) % Tr::WARPS_N) {}

    // Uniform across the block: a block past m or n returns before any barrier.
    __device__ __forceinline__ bool has_work(int m, int n) const { return m0 < m && n0 < n; }
};

// Byte offset of 16-byte chunk `chunk` of row `row` in an a or w tile (64-byte rows).
__device__ __forceinline__ uint32_t tile_offset(int row, int chunk) {
    return static_cast<uint32_t>(row * Tr::ROW_BYTES + ((chunk ^ ((row >> 1) & 3)) << 4));
}

// Byte offset of 16-byte chunk `chunk` of row `row` in the c staging tile (256-byte rows).
__device__ __forceinline__ uint32_t c_offset(int row, int chunk) {
    return static_cast<uint32_t>(row * Tr::C_ROW_BYTES + ((chunk ^ (row & 7)) << 4));
}

// This lane's ldmatrix source offsets within a stage, one per k-step, for its warp's 64 rows of a
// and 32 rows of w (header). Row bits 1..2, which drive the swizzle, come from the lane alone
// because warp and fragment origins are multiples of 16.
struct LdmatrixOffsets {
    uint32_t a[Tr::K_STEPS];
    uint32_t w[Tr::K_STEPS];

    __device__ __forceinline__ explicit LdmatrixOffsets(const BlockCoords& bc) {
        const int lane = bc.lane;
        const int swz = (lane >> 1) & 3;
#pragma unroll
        for (int ks = 0; ks < Tr::K_STEPS; ++ks) {
            const int a_row = bc.warp_m * Tr::WARP_M + (lane & 15);
            const int a_chunk = ks * 2 + (lane >> 4);
            a[ks] = static_cast<uint32_t>(a_row * Tr::ROW_BYTES + ((a_chunk ^ swz) << 4));
            const int w_row = bc.warp_n * Tr::WARP_N + (lane & 7) + ((lane >> 4) << 3);
            const int w_chunk = ks * 2 + ((lane >> 3) & 1);
            w[ks] = static_cast<uint32_t>(Tr::A_BYTES + w_row * Tr::ROW_BYTES + ((w_chunk ^ swz) << 4));
        }
    }
};

// One k-step of a warp's fragments from the stage at shared address `stage`: af[i] is the A
// fragment of rows 16i.. of the warp's a rows, bf[j] the B registers of n8 tiles 2j and 2j + 1
// (header). The caller orders the stage's writes before these reads (a barrier).
__device__ __forceinline__ void load_fragments(uint32_t stage, const LdmatrixOffsets& ld, int ks,
                                               uint32_t (&af)[Tr::M_TILES][4], uint32_t (&bf)[Tr::N_TILES / 2][4]) {
#pragma unroll
    for (int i = 0; i < Tr::M_TILES; ++i) {
        ldmatrix_x4(af[i], stage + ld.a[ks] + i * Tr::MMA_M * Tr::ROW_BYTES);
    }
#pragma unroll
    for (int j = 0; j < Tr::N_TILES / 2; ++j) {
        ldmatrix_x4(bf[j], stage + ld.w[ks] + j * 2 * Tr::MMA_N * Tr::ROW_BYTES);
    }
}

// Writes the block's c tile: bias, optional GELU (epilogue == 1), rounding to T, staged through
// `smem` (C_BYTES, swizzled) and copied out as whole 16-byte vectors; rows past m and columns past
// n are not stored. Every thread of the block calls it, and the caller guarantees that no warp
// still reads the memory it reuses. n is a multiple of 8 and c 16-byte aligned.
template <typename T>
__device__ __forceinline__ void store_c_tile(const float (&acc)[Tr::M_TILES][Tr::N_TILES][4], unsigned char* smem,
                                             const T* __restrict__ bias, T* __restrict__ c, int m, int n,
                                             const BlockCoords& bc, int epilogue) {
    const int m0 = bc.m0;
    const int n0 = bc.n0;
    const int g = bc.lane >> 2;
    const int q = bc.lane & 3;
    const bool gelu = epilogue == 1;
#pragma unroll
    for (int j = 0; j < Tr::N_TILES; ++j) {
        const int col = bc.warp_n * Tr::WARP_N + j * Tr::MMA_N + 2 * q;  // within the tile; n0 + col is even
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
                const int row = bc.warp_m * Tr::WARP_M + i * Tr::MMA_M + g + 8 * h;
                float v0 = acc[i][j][2 * h] + b0;
                float v1 = acc[i][j][2 * h + 1] + b1;
                if (gelu) {
                    v0 = gelu_erf(v0);
                    v1 = gelu_erf(v1);
                }
                *reinterpret_cast<uint32_t*>(smem + c_offset(row, col / Tr::CHUNK) + (col % Tr::CHUNK) * 2) =
                    pack2<T>(v0, v1);
            }
        }
    }
    __syncthreads();  // the whole c tile is staged before any thread copies rows out

#pragma unroll
    for (int p = 0; p < Tr::C_PASSES; ++p) {
        const int idx = bc.tid + p * Tr::THREADS;
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

}  // namespace gemm_tile
}  // namespace attune

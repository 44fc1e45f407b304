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
// Work split. A block owns a 128 x 128 tile of c. Its 8 warps form a 2 (m) x 4 (n) grid; a warp
// owns 64 x 32 outputs = 4 (m) x 4 (n) mma tiles of 16 x 8, i.e. 64 fp32 accumulators a thread.
// The k loop walks BLOCK_K = 32 deep tiles, each two mma k-steps of 16.
//
// mma.sync.aligned.m16n8k16.row.col.f32.{f16,bf16} fragments (PTX ISA, "Matrix fragments for
// mma.m16n8k16"); lane = 4 * g + q with g = lane / 4 (group) and q = lane % 4:
//   A (16 x 16, row-major)  a0 = {A[g][2q], A[g][2q+1]}          a1 = {A[g+8][2q], A[g+8][2q+1]}
//                           a2 = {A[g][2q+8], A[g][2q+9]}        a3 = {A[g+8][2q+8], A[g+8][2q+9]}
//   B (16 x 8, "col")       b0 = {B[2q][g], B[2q+1][g]}          b1 = {B[2q+8][g], B[2q+9][g]}
//   C (16 x 8)              c0, c1 = C[g][2q], C[g][2q+1]        c2, c3 = C[g+8][2q], C[g+8][2q+1]
// B[kk][nn] = w[nn][kk], so b0 is two k-consecutive elements of one w row: the w tile is read
// exactly like the a tile, with no transpose.
//
// ldmatrix.sync.aligned.m8n8.x4.shared.b16: lanes 8i..8i+7 give the addresses of the eight
// 16-byte rows of matrix i; register i of lane l then holds row l / 4, elements 2 (l % 4) and
// 2 (l % 4) + 1 of matrix i. Hence:
//   A, one x4 per 16 x 16 step: lane l points at row (l % 16), k-chunk (l / 16); the matrices come
//     out as (rows 0-7, k 0-7), (rows 8-15, k 0-7), (rows 0-7, k 8-15), (rows 8-15, k 8-15), which
//     are exactly a0, a1, a2, a3.
//   W, one x4 per 16 (n) x 16 (k): lane l points at w row (l % 8) + 8 (l / 16), k-chunk (l / 8) % 2;
//     the matrices are (n 0-7, k 0-7), (n 0-7, k 8-15), (n 8-15, k 0-7), (n 8-15, k 8-15), i.e.
//     {b0, b1} of the first n8 tile and {b0, b1} of the second.
//
// Shared memory. A stage holds the a tile (128 rows x 32 halves = 64 bytes a row) followed by the
// w tile (same shape); 3 stages. A row is four 16-byte chunks. Unswizzled, the 8 rows one ldmatrix
// phase reads (same chunk, 8 consecutive rows) would fall on only 2 of the 8 bank groups of 16
// bytes (rows r and r + 2 are 128 bytes apart). The chunk index is therefore XOR-swizzled with
// bits 1..2 of the row:
//     byte offset (row, chunk) = row * 64 + ((chunk ^ ((row >> 1) & 3)) * 16)
// The bank group of (row, chunk) is 4 (row & 1) + (chunk ^ ((row >> 1) & 3)) (mod 8); over 8
// consecutive rows starting at a multiple of 8, (row & 1, (row >> 1) & 3) takes all 8 values, so
// ldmatrix phases and the cp.async writes (8 lanes = 2 rows x 4 chunks) are conflict-free. The
// pattern holds for any 16-byte aligned base, since a base offset only rotates the bank groups.
//
// Pipeline (STAGES = 3, cp.async with zero fill). The prologue issues tiles 0 and 1, one commit
// group each. Iteration kt waits until at most STAGES - 2 groups are pending (so tile kt has
// landed for this thread), then __syncthreads makes every thread's copies of tile kt visible and
// also proves every warp has finished iteration kt - 1, whose stage (kt - 1) % 3 = (kt + 2) % 3 is
// the one refilled with tile kt + 2 right after the barrier. One barrier per k tile. A group is
// committed every iteration even when it is empty, so the group count stays in step with kt.
//
// Epilogue. After the last tile (and a barrier: other warps may still read the last stage) the
// pipeline memory is reused as a 128 x 128 tile of T (32 KiB): each thread adds the bias, applies
// GELU, rounds to T and stores its pairs; then 16-byte vectors are copied row by row to global
// memory, so every warp writes whole 128-byte lines. The c tile's 16 chunks a row are swizzled by
// chunk ^ (row & 7): the fragment stores (8 rows g, one chunk, 4 lanes each) and the vector reads
// (8 lanes read 8 chunks of one row) then both touch 8 distinct bank groups.
// ---------------------------------------------------------------------------------------------

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <stdint.h>

#include "attune_dtypes.cuh"

namespace attune {
namespace gemm_sm80 {

struct Traits {
    static constexpr int BLOCK_M = 128;
    static constexpr int BLOCK_N = 128;
    static constexpr int BLOCK_K = 32;
    static constexpr int STAGES = 3;
    static constexpr int WARPS_M = 2;
    static constexpr int WARPS_N = 4;
    static constexpr int THREADS = WARPS_M * WARPS_N * 32;        // 256
    static constexpr int WARP_M = BLOCK_M / WARPS_M;              // 64
    static constexpr int WARP_N = BLOCK_N / WARPS_N;              // 32
    static constexpr int MMA_M = 16;
    static constexpr int MMA_N = 8;
    static constexpr int MMA_K = 16;
    static constexpr int M_TILES = WARP_M / MMA_M;                // 4
    static constexpr int N_TILES = WARP_N / MMA_N;                // 4
    static constexpr int K_STEPS = BLOCK_K / MMA_K;               // 2
    static constexpr int CHUNK = 8;                               // elements in 16 bytes
    static constexpr int ROW_BYTES = BLOCK_K * 2;                 // 64: one smem row of a or w
    static constexpr int CHUNKS_PER_ROW = BLOCK_K / CHUNK;        // 4
    static constexpr int A_BYTES = BLOCK_M * ROW_BYTES;           // 8192
    static constexpr int W_BYTES = BLOCK_N * ROW_BYTES;           // 8192
    static constexpr int STAGE_BYTES = A_BYTES + W_BYTES;         // 16384
    static constexpr int SMEM_BYTES = STAGES * STAGE_BYTES;       // 49152
    static constexpr int LOAD_ROWS_PER_PASS = THREADS / CHUNKS_PER_ROW;   // 64
    static constexpr int LOAD_PASSES = BLOCK_M / LOAD_ROWS_PER_PASS;      // 2 (a and w alike)
    static constexpr int C_ROW_BYTES = BLOCK_N * 2;               // 256
    static constexpr int C_CHUNKS_PER_ROW = BLOCK_N / CHUNK;      // 16
    static constexpr int C_BYTES = BLOCK_M * C_ROW_BYTES;         // 32768
    static constexpr int C_PASSES = BLOCK_M * C_CHUNKS_PER_ROW / THREADS;  // 8

    static_assert(BLOCK_M == BLOCK_N, "a and w tiles share the loader layout");
    static_assert(CHUNKS_PER_ROW == 4, "the swizzle below is derived for 64-byte rows");
    static_assert(THREADS % CHUNKS_PER_ROW == 0 && BLOCK_M % LOAD_ROWS_PER_PASS == 0, "loader covers the tile");
    static_assert(C_BYTES <= SMEM_BYTES, "the c tile reuses the pipeline memory");
    static_assert(C_CHUNKS_PER_ROW >= 8, "the c swizzle needs at least 8 chunks a row");
    static_assert(WARP_M % 16 == 0 && WARP_N % 16 == 0, "ldmatrix x4 covers 16 rows of a and of w");
};

// Byte offset of 16-byte chunk `chunk` of row `row` in an a or w tile (64-byte rows).
__device__ __forceinline__ uint32_t tile_offset(int row, int chunk) {
    return static_cast<uint32_t>(row * Traits::ROW_BYTES + ((chunk ^ ((row >> 1) & 3)) << 4));
}

// Byte offset of 16-byte chunk `chunk` of row `row` in the c staging tile (256-byte rows).
__device__ __forceinline__ uint32_t c_offset(int row, int chunk) {
    return static_cast<uint32_t>(row * Traits::C_ROW_BYTES + ((chunk ^ (row & 7)) << 4));
}

__device__ __forceinline__ uint32_t shared_address(const void* p) {
    return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

// 16 bytes global -> shared, bypassing L1; src_bytes = 0 zero-fills the destination and reads
// nothing (src must still be a valid address).
__device__ __forceinline__ void cp_async_16(uint32_t dst, const void* src, int src_bytes) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src), "r"(src_bytes)
                 : "memory");
}

__device__ __forceinline__ void cp_async_commit() {
    asm volatile("cp.async.commit_group;\n" ::: "memory");
}

template <int N>
__device__ __forceinline__ void cp_async_wait() {
    asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
}

__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], uint32_t addr) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(addr)
                 : "memory");
}

template <typename T> struct Mma;

template <> struct Mma<__half> {
    static __device__ __forceinline__ void run(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
        asm("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
            "{%0, %1, %2, %3};\n"
            : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
            : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
    }
};

template <> struct Mma<__nv_bfloat16> {
    static __device__ __forceinline__ void run(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
        asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
            "{%0, %1, %2, %3};\n"
            : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
            : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
    }
};

template <typename T> __device__ __forceinline__ uint16_t bits_of(T x);
template <> __device__ __forceinline__ uint16_t bits_of<__half>(__half x) { return __half_as_ushort(x); }
template <> __device__ __forceinline__ uint16_t bits_of<__nv_bfloat16>(__nv_bfloat16 x) {
    return __bfloat16_as_ushort(x);
}

// Two fp32 values rounded to T, the first in the low half (the lower address).
template <typename T>
__device__ __forceinline__ uint32_t pack2(float lo, float hi) {
    return static_cast<uint32_t>(bits_of<T>(from_float<T>(lo))) |
           (static_cast<uint32_t>(bits_of<T>(from_float<T>(hi))) << 16);
}

__device__ __forceinline__ float gelu_erf(float x) {
    return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
}

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
        dst = tile_offset(row, chunk);
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
    TileLoader<T> loader(a, w, m, n, k, m0, n0, tid);

    // ldmatrix source offsets within a stage, one per k-step (see the header). Row bits 1..2,
    // which drive the swizzle, come from the lane alone because warp and tile origins are
    // multiples of 16.
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
                    Mma<T>::run(acc[i][j], af[i], bf[j / 2][(j % 2) * 2], bf[j / 2][(j % 2) * 2 + 1]);
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

    const int g = lane >> 2;
    const int q = lane & 3;
    const bool gelu = epilogue == 1;
#pragma unroll
    for (int j = 0; j < Tr::N_TILES; ++j) {
        const int col = warp_n * Tr::WARP_N + j * Tr::MMA_N + 2 * q;  // within the tile; n0 + col is even
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
                    pack2<T>(v0, v1);
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

// flash-sm75: the FlashAttention-2 forward pass on Turing (sm_75, T4) tensor cores, fp16 in and
// out, fp32 accumulation. Kernels flash_sm75_fwd_f16_d<D>, D in {32, 64, ..., 256}; launch shapes
// in dev.attune.kernels.cuda.launch.FlashSm75Launch (which must agree with Traits below).
//
// Instructions: only what PTX ISA 6.5 / sm_75 has — mma.sync.aligned.m16n8k8 (f16 inputs, f32
// accumulators), ldmatrix.sync.aligned.m8n8 (.x4, and .trans for V), 16-byte vector loads from
// global memory through registers (no cp.async), bar.sync, shfl.sync.
//
// ------------------------------------------------------------------------------------------------
// Problem
//   Per (batch row b, head h): O = softmax(scale · Q Kᵀ [+ causal mask]) V, with Q, K, V, O of
//   shape (seqlen_b, head_dim), packed varlen: row b owns tokens [cu_seqlens[b], cu_seqlens[b+1]),
//   element (token, h, d) at base + token·stride + h·head_dim + d. Grid (ceil(max_seqlen/64),
//   heads, batch); one block = 64 query rows of one (b, h); 4 warps, warp w owns query rows
//   [16w, 16w+16) of the block's tile and nothing is shared between warps except the K and V
//   tiles.
//
// Shared memory (dynamic, 2·(64·D + 2·BLOCK_N·D) bytes, nothing static):
//   sQ (64, D) | sK (BLOCK_N, D) | sV (BLOCK_N, D), fp16, rows unpadded. Every row is a run of
//   C = D/8 16-byte chunks; chunk c of row r is stored at chunk slot (c ^ swz(r)) of that row
//   (Swizzle below), so the 8 row addresses one ldmatrix phase reads (8 consecutive rows, the
//   same logical chunk) fall in 8 distinct 16-byte bank groups: no bank conflicts without
//   padding.
//
// ------------------------------------------------------------------------------------------------
// m16n8k8 and ldmatrix fragment layouts (lane = 4·g + t) are in tensor_core.cuh: a thread owns
// rows g and g+8 of every C tile, columns 2t and 2t+1, and the 4 lanes of a quad (same g)
// together own one whole row of 8 columns. An ldmatrix register is an A row-half, a B fragment of
// a row-major Bᵀ, or (with .trans) a B fragment of a row-major B:
//
//   S = Q Kᵀ (A = Q tile, B[k][n] = K[n][k]):
//     Q, one ldmatrix.x4 per 16 columns d0..d0+15 of the warp's 16 rows: lane l addresses row
//     (l & 15), column d0 + 8·(l >> 4); matrices are (rows 0-7, cols 0-7), (rows 8-15, cols 0-7),
//     (rows 0-7, cols 8-15), (rows 8-15, cols 8-15), so registers {r0, r1} are the A fragment
//     (a0, a1) of the k-step d0..d0+7 and {r2, r3} that of the k-step d0+8..d0+15: one 16×16
//     load feeds two m16n8k8 steps.
//     K, one ldmatrix.x4 per 8 keys n0..n0+7 and 32 columns: lane l addresses key n0 + (l & 7),
//     column d0 + 8·(l >> 3); register i = { K[n0+g][d0+8i+2t], K[n0+g][d0+8i+2t+1] }
//     = { B[2t][g], B[2t+1][g] } of the k-step d0+8i: four k-steps of one n-tile.
//   O += P V (A = P, B[k][n] = V[k][n], V row-major in shared memory):
//     V, one ldmatrix.x4.trans per 8 keys k0..k0+7 and 32 columns: lane l addresses key
//     k0 + (l & 7), column d0 + 8·(l >> 3); register i = { V[k0+2t][d0+8i+g], V[k0+2t+1][d0+8i+g] }
//     = the B fragment of the k-step k0 for the O n-tile d0+8i: four n-tiles of one k-step.
//
// P stays in registers. S n-tile j (keys 8j..8j+7) is a C fragment: c0, c1 = S[g][8j+2t, +1],
// c2, c3 = S[g+8][8j+2t, +1]. The A fragment of the P·V k-step over the same 8 keys is
// a0 = P[g][8j+2t, +1], a1 = P[g+8][8j+2t, +1]: the same elements in the same lanes. So
//   a0 = half2(p(c0), p(c1)), a1 = half2(p(c2), p(c3))
// converts the fp32 probabilities of S n-tile j into the fp16 A fragment of P·V k-step j with
// two cvt pairs and no data movement (with k = 8 the C tile and the A tile are both 16×8; no
// shuffle, no shared memory round trip).
//
// ------------------------------------------------------------------------------------------------
// Online softmax (per query row; each of a thread's two rows, the reductions over the 4 lanes
// of its quad with shfl.xor 1 and 2). Scores are taken to the log2 domain first,
// x = s · scale · log2(e), masked entries x = -inf. For each key tile:
//     m_new = max(m, max_j x_j)                 (m starts at -inf)
//     m_use = m_new, or 0 while the row has seen only masked keys (m_new = -inf), so that
//             exp2(-inf - m_use) = 0 instead of exp2(-inf + inf) = NaN
//     alpha = exp2(m - m_use)                   (0 on the first tile with a visible key)
//     p_j   = exp2(x_j - m_use)
//     l     = alpha · l + Σ_j p_j               (per-thread partial sum; the quad sum is taken once
//                                                at the end: alpha is the same in all 4 lanes)
//     O     = alpha · O + P V                   (P rounded to fp16 for the mma, l keeps fp32 p)
// and finally O / l, with 1/l taken as 0 when l = 0 (a row with no visible key writes zeros;
// cannot happen for a stored row, key 0 is visible to every query, but the guard costs nothing).
//
// Masking: keys at or past the row's length are -inf (their K and V rows are zero-filled in
// shared memory, so 0 · V stays 0, never 0 · garbage = NaN). Causal: key j is visible to query i
// iff j <= i; key tiles wholly above the block's last query are never loaded, and a warp skips
// the math of a key tile wholly above its own 16 rows (BLOCK_N = 32 only). Only tiles that
// straddle the row end or the diagonal evaluate the mask. Columns >= head_dim are zero-filled in
// sQ, sK, sV (they add 0 to Q Kᵀ) and never stored.
//
// ------------------------------------------------------------------------------------------------
// Pipeline and barriers. One stage of K and one of V in shared memory; the next tile is
// prefetched into registers (16-byte loads) while the current one is being multiplied:
//
//   prologue: Q, K_0, V_0 -> shared;                       __syncthreads()  (B0)
//   tile j:   issue loads K_{j+1} -> registers
//             S = Q K_jᵀ (reads sK), mask, softmax
//             __syncthreads()  (B1)
//             store K_{j+1} -> sK; issue loads V_{j+1} -> registers
//             O += P V_j (reads sV)
//             __syncthreads()  (B2)
//             store V_{j+1} -> sV
//
//   B0: every warp reads all rows of sK and sV (and its rows of sQ) that other threads wrote.
//   B1: write-after-read on sK — K_{j+1} overwrites K_j, which every warp must have finished
//       reading in Q K_jᵀ. Also read-after-write on sV: V_j was stored after B2 of tile j-1 (or
//       before B0) and is read below B1.
//   B2: write-after-read on sV — V_{j+1} overwrites V_j, read by every warp in P V_j. Also
//       read-after-write on sK: K_{j+1} stored between B1 and B2 is read by Q K_{j+1}ᵀ after B2.
//   Both barriers sit outside every warp-dependent branch (the causal warp skip) and depend only
//   on block-uniform values, so all 128 threads reach each of them.
//   Epilogue: each warp stages its 16 output rows in its own 16 rows of sQ (read by no other
//   warp, ever), so only __syncwarp orders the staging: before it (this warp's ldmatrix reads of
//   sQ vs. the overwrite) and after it (the half2 writes vs. the 16-byte reads that go to
//   global memory, which coalesce where the C-fragment layout would write 4-byte pieces).
//
// Preconditions (the host checks them): head_dim a multiple of 8, <= D; q, k, v, o 16-byte
// aligned and q_stride, kv_stride, o_stride multiples of 8 elements (every access is a 16-byte
// vector); cu_seqlens non-decreasing; 128 threads; dynamic shared memory as Traits::kSmemBytes
// (above 48 KiB for D >= 224, which needs CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES).

#include <cstdint>
#include <cuda_fp16.h>
#include <math_constants.h>

#include "tensor_core.cuh"

namespace attune {
namespace flash_sm75 {

// ------------------------------------------------------------------------------------------------
// Tile traits

constexpr int kWarps = 4;
constexpr int kThreads = 32 * kWarps;
constexpr int kRowsPerWarp = 16;  // the M of one m16n8k8
constexpr int kBlockM = kWarps * kRowsPerWarp;
constexpr int kSm75SharedLimit = 64 * 1024;

template <int kHeadDim_>
struct Traits {
    static constexpr int kHeadDim = kHeadDim_;  // D: the compiled (padded) head dimension
    static constexpr int kBlockN = kHeadDim <= 128 ? 64 : 32;
    static constexpr int kChunks = kHeadDim / 8;  // 16-byte chunks in a row of D halves
    // Q as A fragments costs D/4 registers a thread. Up to D = 96 they fit beside the O
    // accumulator (D/2 floats), S (BLOCK_N/2 floats) and the prefetched K/V tile
    // (BLOCK_N·D/1024 16-byte chunks); at D = 128 ptxas spills, so from there on Q is re-read
    // from sQ with ldmatrix for every key tile (one x4 per 16 columns: +12.5% ldmatrix traffic
    // at D = 128, +25% at BLOCK_N = 32).
    static constexpr bool kQInRegisters = kHeadDim <= 96;
    static constexpr int kSmemQ = kBlockM * kHeadDim;   // elements
    static constexpr int kSmemKV = kBlockN * kHeadDim;  // elements, one of K or V
    static constexpr int kSmemBytes = 2 * (kSmemQ + 2 * kSmemKV);

    static_assert(kHeadDim % 32 == 0 && kHeadDim >= 32 && kHeadDim <= 256,
                  "D must be a multiple of 32 (one K/V ldmatrix.x4 spans 32 columns)");
    static_assert(kBlockN % 8 == 0, "key tiles are whole m16n8k8 n-tiles");
    static_assert(kSmemBytes <= kSm75SharedLimit, "a sm_75 block may opt in to 64 KiB at most");
    static_assert((kBlockM * kChunks) % kThreads == 0 && (kBlockN * kChunks) % kThreads == 0,
                  "every thread copies the same number of 16-byte chunks");
};

// XOR swizzle of the 16-byte chunks of one shared-memory row (units: chunks; offsets: halves).
// A bank line is 128 bytes = 8 chunk slots; an ldmatrix phase reads one chunk from each of 8
// consecutive rows r0..r0+7 (r0 a multiple of 8). Slot of (row r, chunk c) = (r·C + (c ^ key(r)))
// mod 8:
//   C ≡ 0 (mod 8): r·C ≡ 0, key(r) = r & 7 permutes the 8 slots of c's aligned group of 8;
//                  c ^ key stays < C because C is a multiple of 8.
//   C ≡ 4 (mod 8): r·C ≡ 4·(r & 1), key(r) = (r >> 1) & 3 flips only the two low bits
//                  (c ^ key stays < C, a multiple of 4): slot bit 2 comes from r & 1, slot bits
//                  0-1 from (c & 3) ^ ((r >> 1) & 3), distinct over the 8 rows.
template <int kChunks>
struct Swizzle {
    static_assert(kChunks % 4 == 0, "rows are a multiple of four 16-byte chunks");

    static __device__ __forceinline__ int key(int row) {
        return kChunks % 8 == 0 ? (row & 7) : ((row >> 1) & 3);
    }

    // Offset in halves of logical chunk `chunk` of row `row`.
    static __device__ __forceinline__ int offset(int row, int chunk) {
        return (row * kChunks + (chunk ^ key(row))) * 8;
    }
};

// ------------------------------------------------------------------------------------------------
// Global -> registers -> shared copy of one (kRows, D) tile, 16 bytes per chunk. Thread `tid`
// owns chunks tid, tid + 128, ... of the row-major chunk grid, so 8 consecutive lanes write 8
// consecutive chunks (one 128-byte line after swizzling) and read contiguous global memory.
// load() issues the loads only (the registers are not consumed until store()), which is what
// lets a tile's loads be in flight during the math of the previous tile.
template <int kRows, int kChunks>
struct TileCopy {
    static constexpr int kPerThread = kRows * kChunks / kThreads;
    uint4 chunk[kPerThread];

    // tile: element (row 0, column 0) of the tile in global memory; rows [0, rows_valid) and
    // chunks [0, chunks_valid) exist, the rest of the tile is filled with zeros.
    __device__ __forceinline__ void load(const __half* __restrict__ tile, int stride, int rows_valid,
                                         int chunks_valid, int tid) {
#pragma unroll
        for (int i = 0; i < kPerThread; ++i) {
            const int idx = tid + i * kThreads;
            const int row = idx / kChunks;
            const int col = idx % kChunks;
            chunk[i] = make_uint4(0u, 0u, 0u, 0u);
            if (row < rows_valid && col < chunks_valid) {
                chunk[i] = *reinterpret_cast<const uint4*>(
                    tile + static_cast<int64_t>(row) * stride + col * 8);
            }
        }
    }

    __device__ __forceinline__ void store(__half* smem, int tid) const {
#pragma unroll
        for (int i = 0; i < kPerThread; ++i) {
            const int idx = tid + i * kThreads;
            const int row = idx / kChunks;
            const int col = idx % kChunks;
            *reinterpret_cast<uint4*>(smem + Swizzle<kChunks>::offset(row, col)) = chunk[i];
        }
    }
};

extern __shared__ __align__(16) unsigned char shared_storage[];

// ------------------------------------------------------------------------------------------------
// Kernel body

template <int kHeadDim>
__device__ __forceinline__ void forward(const __half* __restrict__ q, const __half* __restrict__ k,
                                        const __half* __restrict__ v, __half* __restrict__ o,
                                        const int* __restrict__ cu_seqlens, int head_dim,
                                        int q_stride, int kv_stride, int o_stride, float scale,
                                        int causal) {
    using Tr = Traits<kHeadDim>;
    using Swz = Swizzle<Tr::kChunks>;
    constexpr int D = kHeadDim;
    constexpr int kBlockN = Tr::kBlockN;
    constexpr int kSTiles = kBlockN / 8;  // n-tiles of S = k-steps of P·V
    constexpr int kOTiles = D / 8;        // n-tiles of O = k-steps of Q·Kᵀ
    constexpr int kGroups32 = D / 32;     // 32-column groups (one K/V ldmatrix.x4 each)

    const int batch_row = blockIdx.z;
    const int head = blockIdx.y;
    const int row_begin = cu_seqlens[batch_row];
    const int seqlen = cu_seqlens[batch_row + 1] - row_begin;
    const int q_start = blockIdx.x * kBlockM;  // row-local index of the tile's first query
    if (q_start >= seqlen) {
        return;  // before any barrier: the whole block leaves together
    }

    const int tid = threadIdx.x;
    const int warp = tid >> 5;
    const int lane = tid & 31;
    const int g = lane >> 2;  // fragment row (and row + 8)
    const int t = lane & 3;   // fragment column pair 2t, 2t + 1
    const int chunks_valid = head_dim / 8;
    const int64_t head_offset = static_cast<int64_t>(head) * head_dim;

    __half* sQ = reinterpret_cast<__half*>(shared_storage);  // (64, D)
    __half* sK = sQ + Tr::kSmemQ;                             // (BLOCK_N, D)
    __half* sV = sK + Tr::kSmemKV;                            // (BLOCK_N, D)

    // Global element (row-local token `row`, column 0) of this head.
    auto q_row = [&](int row) { return q + static_cast<int64_t>(row_begin + row) * q_stride + head_offset; };
    auto k_row = [&](int row) { return k + static_cast<int64_t>(row_begin + row) * kv_stride + head_offset; };
    auto v_row = [&](int row) { return v + static_cast<int64_t>(row_begin + row) * kv_stride + head_offset; };

    // Per-lane ldmatrix addresses (see the header). Q: row 16·warp + (lane & 15), chunk
    // 2·kk + (lane >> 4). K and V: row 8·tile + (lane & 7), chunk 4·group + (lane >> 3). The
    // swizzle key depends on row & 7 only, i.e. on lane & 7, because every matrix starts at a row
    // that is a multiple of 8.
    const int q_ld_row = kRowsPerWarp * warp + (lane & 15);
    const int q_ld_sub = lane >> 4;
    const int kv_ld_row = lane & 7;
    const int kv_ld_sub = lane >> 3;
    const uint32_t sQ_addr = smem_address(sQ);
    const uint32_t sK_addr = smem_address(sK);
    const uint32_t sV_addr = smem_address(sV);
    auto q_ld_addr = [&](int kk) {  // 16 rows × columns 16kk..16kk+15
        return sQ_addr + 2u * Swz::offset(q_ld_row, 2 * kk + q_ld_sub);
    };
    auto kv_ld_addr = [&](uint32_t base, int tile, int group) {  // 8 rows × 32 columns
        return base + 2u * Swz::offset(8 * tile + kv_ld_row, 4 * group + kv_ld_sub);
    };

    // ---- prologue: Q, K_0, V_0 -> shared memory
    const int n_end = causal ? min(seqlen, q_start + kBlockM) : seqlen;  // keys [0, n_end) matter
    const int n_tiles = (n_end + kBlockN - 1) / kBlockN;                  // >= 1: seqlen > q_start
    {
        TileCopy<kBlockM, Tr::kChunks> q_tile;
        q_tile.load(q_row(q_start), q_stride, seqlen - q_start, chunks_valid, tid);
        q_tile.store(sQ, tid);
    }
    {
        TileCopy<kBlockN, Tr::kChunks> kv_tile;
        kv_tile.load(k_row(0), kv_stride, seqlen, chunks_valid, tid);
        kv_tile.store(sK, tid);
        kv_tile.load(v_row(0), kv_stride, seqlen, chunks_valid, tid);
        kv_tile.store(sV, tid);
    }
    __syncthreads();  // B0: tiles written by all threads, read by every warp

    // Q as A fragments: q_frag[s] = (a0, a1) of the k-step over columns 8s..8s+7.
    uint32_t q_frag[Tr::kQInRegisters ? kOTiles : 1][2];
    if constexpr (Tr::kQInRegisters) {
#pragma unroll
        for (int kk = 0; kk < D / 16; ++kk) {
            uint32_t r[4];
            ldmatrix_x4(r, q_ld_addr(kk));
            q_frag[2 * kk][0] = r[0];
            q_frag[2 * kk][1] = r[1];
            q_frag[2 * kk + 1][0] = r[2];
            q_frag[2 * kk + 1][1] = r[3];
        }
    }

    // ---- per-thread state: rows g and g + 8 of this warp's 16
    float o_acc[kOTiles][4];
    clear_fragments(o_acc);
    float row_max[2] = {-CUDART_INF_F, -CUDART_INF_F};  // log2 domain
    float row_sum[2] = {0.f, 0.f};                        // this thread's columns only
    const float scale_log2 = scale * 1.44269504088896340736f;
    const int warp_q0 = q_start + kRowsPerWarp * warp;  // row-local index of the warp's first query
    const int my_q[2] = {warp_q0 + g, warp_q0 + g + 8};

    for (int tile = 0; tile < n_tiles; ++tile) {
        const int n_start = tile * kBlockN;
        const bool has_next = tile + 1 < n_tiles;  // block-uniform
        // Causal: a tile wholly above this warp's last query contributes exactly nothing.
        const bool warp_active = !causal || n_start <= warp_q0 + kRowsPerWarp - 1;
        // Only a tile that crosses the row end or this warp's diagonal needs per-element masks.
        const bool need_mask =
            n_start + kBlockN > seqlen || (causal && n_start + kBlockN - 1 > warp_q0);

        TileCopy<kBlockN, Tr::kChunks> next;
        if (has_next) {
            next.load(k_row(n_start + kBlockN), kv_stride, seqlen - n_start - kBlockN, chunks_valid, tid);
        }

        uint32_t p_frag[kSTiles][2];  // P as A fragments of the P·V k-steps
        if (warp_active) {
            // ---- S = Q K_tileᵀ, (16, BLOCK_N) per warp
            float s[kSTiles][4];
            clear_fragments(s);
#pragma unroll
            for (int grp = 0; grp < kGroups32; ++grp) {
                uint32_t a[4][2];  // k-steps 4grp .. 4grp+3
                if constexpr (Tr::kQInRegisters) {
#pragma unroll
                    for (int i = 0; i < 4; ++i) {
                        a[i][0] = q_frag[4 * grp + i][0];
                        a[i][1] = q_frag[4 * grp + i][1];
                    }
                } else {
#pragma unroll
                    for (int h = 0; h < 2; ++h) {
                        uint32_t r[4];
                        ldmatrix_x4(r, q_ld_addr(2 * grp + h));
                        a[2 * h][0] = r[0];
                        a[2 * h][1] = r[1];
                        a[2 * h + 1][0] = r[2];
                        a[2 * h + 1][1] = r[3];
                    }
                }
#pragma unroll
                for (int n = 0; n < kSTiles; ++n) {
                    uint32_t b[4];
                    ldmatrix_x4(b, kv_ld_addr(sK_addr, n, grp));
#pragma unroll
                    for (int i = 0; i < 4; ++i) {
                        mma_m16n8k8_f16(s[n], a[i][0], a[i][1], b[i]);
                    }
                }
            }

            // ---- log2 domain, masks
#pragma unroll
            for (int n = 0; n < kSTiles; ++n) {
#pragma unroll
                for (int i = 0; i < 4; ++i) {
                    s[n][i] *= scale_log2;
                }
            }
            if (need_mask) {
#pragma unroll
                for (int n = 0; n < kSTiles; ++n) {
#pragma unroll
                    for (int i = 0; i < 4; ++i) {
                        const int key = n_start + 8 * n + 2 * t + (i & 1);
                        if (key >= seqlen || (causal && key > my_q[i >> 1])) {
                            s[n][i] = -CUDART_INF_F;
                        }
                    }
                }
            }

            // ---- online softmax
            float tile_max[2] = {-CUDART_INF_F, -CUDART_INF_F};
#pragma unroll
            for (int n = 0; n < kSTiles; ++n) {
                tile_max[0] = fmaxf(tile_max[0], fmaxf(s[n][0], s[n][1]));
                tile_max[1] = fmaxf(tile_max[1], fmaxf(s[n][2], s[n][3]));
            }
            float m_use[2];
#pragma unroll
            for (int r = 0; r < 2; ++r) {
                tile_max[r] = quad_max(tile_max[r]);  // the quad holds the row's BLOCK_N columns
                const float m_new = fmaxf(row_max[r], tile_max[r]);
                m_use[r] = m_new == -CUDART_INF_F ? 0.f : m_new;
                const float alpha = exp2f(row_max[r] - m_use[r]);
                row_max[r] = m_new;
                row_sum[r] *= alpha;
#pragma unroll
                for (int n = 0; n < kOTiles; ++n) {
                    o_acc[n][2 * r] *= alpha;
                    o_acc[n][2 * r + 1] *= alpha;
                }
            }
#pragma unroll
            for (int n = 0; n < kSTiles; ++n) {
                const float p0 = exp2f(s[n][0] - m_use[0]);
                const float p1 = exp2f(s[n][1] - m_use[0]);
                const float p2 = exp2f(s[n][2] - m_use[1]);
                const float p3 = exp2f(s[n][3] - m_use[1]);
                row_sum[0] += p0 + p1;
                row_sum[1] += p2 + p3;
                // C fragment of S n-tile n == A fragment of P·V k-step n (see the header).
                p_frag[n][0] = pack2<__half>(p0, p1);
                p_frag[n][1] = pack2<__half>(p2, p3);
            }
        }

        __syncthreads();  // B1: every warp is done with sK; V_tile (stored before) is visible
        if (has_next) {
            next.store(sK, tid);
            next.load(v_row(n_start + kBlockN), kv_stride, seqlen - n_start - kBlockN, chunks_valid, tid);
        }

        if (warp_active) {
            // ---- O += P V_tile, (16, D) per warp
#pragma unroll
            for (int ks = 0; ks < kSTiles; ++ks) {
#pragma unroll
                for (int grp = 0; grp < kGroups32; ++grp) {
                    uint32_t b[4];
                    ldmatrix_x4_trans(b, kv_ld_addr(sV_addr, ks, grp));
#pragma unroll
                    for (int i = 0; i < 4; ++i) {
                        mma_m16n8k8_f16(o_acc[4 * grp + i], p_frag[ks][0], p_frag[ks][1], b[i]);
                    }
                }
            }
        }

        __syncthreads();  // B2: every warp is done with sV; K_{tile+1} is visible
        if (has_next) {
            next.store(sV, tid);
        }
    }

    // ---- epilogue: O / l -> fp16, staged through this warp's own rows of sQ
    float inv_sum[2];
#pragma unroll
    for (int r = 0; r < 2; ++r) {
        const float l = quad_sum(row_sum[r]);
        inv_sum[r] = l > 0.f ? 1.f / l : 0.f;
    }

    __syncwarp();  // this warp's ldmatrix reads of its sQ rows precede the overwrite
#pragma unroll
    for (int n = 0; n < kOTiles; ++n) {
#pragma unroll
        for (int r = 0; r < 2; ++r) {
            const int row = kRowsPerWarp * warp + g + 8 * r;
            *reinterpret_cast<uint32_t*>(sQ + Swz::offset(row, n) + 2 * t) =
                pack2<__half>(o_acc[n][2 * r] * inv_sum[r], o_acc[n][2 * r + 1] * inv_sum[r]);
        }
    }
    __syncwarp();  // staged rows complete before lanes read each other's pieces

    constexpr int kStoresPerLane = kRowsPerWarp * Tr::kChunks / 32;
#pragma unroll
    for (int i = 0; i < kStoresPerLane; ++i) {
        const int idx = lane + 32 * i;
        const int row = idx / Tr::kChunks;  // 0..15 within the warp
        const int col = idx % Tr::kChunks;
        const int query = warp_q0 + row;
        if (query < seqlen && col < chunks_valid) {
            const uint4 val =
                *reinterpret_cast<const uint4*>(sQ + Swz::offset(kRowsPerWarp * warp + row, col));
            *reinterpret_cast<uint4*>(o + static_cast<int64_t>(row_begin + query) * o_stride +
                                      head_offset + col * 8) = val;
        }
    }
}

}  // namespace flash_sm75
}  // namespace attune

// ------------------------------------------------------------------------------------------------
// Entry points: the ABI of every fused attention kernel (AttentionLaunch.java). `heads` is part
// of the ABI; this kernel takes the head from blockIdx.y and needs no other use of it.

#define ATTUNE_FLASH_SM75_ENTRY(D)                                                                 \
    extern "C" __global__ void __launch_bounds__(attune::flash_sm75::kThreads)                     \
        flash_sm75_fwd_f16_d##D(const __half* __restrict__ q, const __half* __restrict__ k,        \
                                const __half* __restrict__ v, __half* __restrict__ o,              \
                                const int* __restrict__ cu_seqlens, int heads, int head_dim,       \
                                int q_stride, int kv_stride, int o_stride, float scale,            \
                                int causal) {                                                      \
        (void)heads;                                                                               \
        attune::flash_sm75::forward<D>(q, k, v, o, cu_seqlens, head_dim, q_stride, kv_stride,      \
                                       o_stride, scale, causal);                                   \
    }

ATTUNE_FLASH_SM75_ENTRY(32)
ATTUNE_FLASH_SM75_ENTRY(64)
ATTUNE_FLASH_SM75_ENTRY(96)
ATTUNE_FLASH_SM75_ENTRY(128)
ATTUNE_FLASH_SM75_ENTRY(160)
ATTUNE_FLASH_SM75_ENTRY(192)
ATTUNE_FLASH_SM75_ENTRY(224)
ATTUNE_FLASH_SM75_ENTRY(256)

#undef ATTUNE_FLASH_SM75_ENTRY

// flash_sm80: FlashAttention-2 style forward attention on Ampere (sm80) tensor cores and newer.
//
//   O = softmax(scale · Q Kᵀ [+ causal mask]) V     per (batch row, head), fp16 or bf16 in and out,
//                                                   fp32 accumulation and softmax.
//
// Entry points flash_sm80_fwd_<f16|bf16>_d<D>, D ∈ {32, 64, 96, 128, 160, 192, 224, 256}: one
// template, instantiated per element type and compiled head dimension D. The runtime head_dim is
// any multiple of 8 with head_dim ≤ D; columns d ≥ head_dim are zero in shared memory, so they add
// nothing to Q Kᵀ, and they are never stored. Launch shape (dev.attune.kernels.cuda.launch.
// FlashSm80Launch, which must agree with FlashSm80Traits below):
//
//   grid  (ceil(max_seqlen / BLOCK_M), heads, batch)     block (128)
//   dynamic shared memory  2 bytes · (BLOCK_M·D + STAGES·2·BLOCK_N·D)
//
// Blocks above 48 KiB of dynamic shared memory (every D but 32) need the function attribute
// CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES raised before launch; the largest (D = 256,
// 96 KiB) fits every sm80+ part (sm86/sm89 allow 99 KiB per block).
//
// Memory preconditions (checked by the caller, not here): q, k, v, o 16-byte aligned, and
// q_stride, kv_stride, o_stride multiples of 8 elements, so every 8-element run of a row is one
// aligned 16-byte transfer (cp.async.cg moves exactly 16 bytes).
//
// ─── Work split ──────────────────────────────────────────────────────────────────────────────
// One block owns BLOCK_M = 64 query rows of one (batch row, head). Its 4 warps own 16 query rows
// each, for the whole kernel: a warp's slice of S = Q Kᵀ, of the softmax state and of O lives in
// that warp's registers only, so softmax needs no shared memory and no block barrier. The block
// walks the key/value rows in tiles of BLOCK_N; per tile, each warp computes its 16 × BLOCK_N
// scores, updates its running softmax, and accumulates P V into its 16 × D output.
//
// ─── Fragments ───────────────────────────────────────────────────────────────────────────────
// mma.m16n8k16 and ldmatrix.x4 fragment layouts, with g = lane / 4 and t = lane % 4, are in
// tensor_core.cuh. Every ldmatrix here uses one addressing rule: lane gives tile row (lane % 16)
// of 16-byte chunk (lane / 16), i.e. matrices 0..3 are (rows 0-7, chunk 0), (rows 8-15, chunk 0),
// (rows 0-7, chunk 1), (rows 8-15, chunk 1) of a 16 × 16 sub-tile. What the four registers then are:
//
//   Q (rows = queries, chunks = d)          r0..r3 = a0..a3 of the A fragment for one k-step.
//   K (rows = keys,    chunks = d)          B[k = d][n = key] = K[key][d] is "col" layout, so no
//                                           transpose: r0 = b0 and r2 = b1 of keys 0-7;
//                                           r1 = b0 and r3 = b1 of keys 8-15.
//   V (rows = keys,    chunks = d), .trans  B[k = key][n = d] = V[key][d] is row-major, so .trans
//                                           hands lane (g, t) V[2t..2t+1][g]: r0 = b0 and r1 = b1
//                                           of d 0-7; r2 = b0 and r3 = b1 of d 8-15.
//
// P as the A operand of P V needs no shuffle: the C fragments of key n-tiles 2j and 2j+1 of S
// are exactly the A fragment of the k-step over keys 16j..16j+15 (a0 = c0,c1 of tile 2j,
// a1 = c2,c3 of tile 2j, a2 = c0,c1 of tile 2j+1, a3 = c2,c3 of tile 2j+1), converted to T.
//
// ─── Online softmax (per query row, fp32) ────────────────────────────────────────────────────
// Scores are multiplied by scale · log2(e) as they leave the MMA, so every exponential is an
// exp2f of a difference. A lane holds, for rows g and g + 8 of its warp, 2 · BLOCK_N / 8 scores
// each; the rest of those rows is in the other 3 lanes of its quad (lanes 4g..4g+3, which differ
// only in lane bits 0 and 1), so a row's max is the lane's max reduced with __shfl_xor_sync 1 and
// then 2. Per key tile, with m the running row max (scaled) and l the running row sum:
//
//   m' = max(m, max_j s_j)     p_j = exp2(s_j − m')     α = exp2(m − m')
//   l  ← α·l + Σ_j p_j         O  ← α·O + P V
//
// The max is quad-reduced every tile (all 4 lanes must subtract the same m'), but l is kept as
// per-lane partial sums: α is the same in all 4 lanes, so the partials stay consistent and are
// reduced once at the end. Finally O ← O / l (0 where l = 0). Masked scores are −∞; m' = −∞
// (a row with no visible key yet) subtracts 0 instead, so p = exp2(−∞) = 0 and α = 0, never NaN.
// Tile 0 holds key 0, which every query row sees, so with len ≥ 1 no row ends with l = 0.
//
// ─── Shared memory and the cp.async pipeline ─────────────────────────────────────────────────
//   [ Q: BLOCK_M × D ][ K stage 0 ][ K stage 1 ][ V stage 0 ][ V stage 1 ]   each stage BLOCK_N × D
// Rows are D elements, unpadded. ldmatrix reads 8 rows × 16 bytes per matrix; with a row pitch
// that is a multiple of 128 bytes those 8 chunks would all fall in the same 4 banks (8-way
// conflict). The 16-byte chunk c of row r is therefore stored at chunk c ^ (r % 8) when a row has
// a multiple of 8 chunks (D % 64 == 0), and at c ^ ((r / 2) % 4) when it has 4 mod 8 chunks
// (D % 64 == 32: consecutive rows then start 64 bytes apart, alternating bank halves). Either
// way any 8 consecutive rows (starting at a multiple of 8) put one logical chunk into 8 distinct
// 16-byte bank groups, and the XOR stays inside the row.
//
// K and V tiles are double-buffered. Key tile j uses stage j % 2 and is one cp.async group
// (the Q tile rides in tile 0's group). Iteration j:
//
//   1. issue tile j+1 into stage (j+1) % 2, commit (an empty group when there is no tile j+1, so
//      that "all but the newest group" below always means "everything up to tile j").
//      Hazard: stage (j+1) % 2 was read by every warp in iteration j−1; the barrier at the end
//      of iteration j−1 (step 5) is what makes overwriting it safe.
//   2. cp.async.wait_group 1: this thread's copies of tile j (and Q) have landed.
//   3. __syncthreads: every thread's copies of tile j have landed and are visible to all warps
//      (wait_group orders only the calling thread's own copies).
//   4. S = Q Kⱼᵀ, softmax, O += P Vⱼ, reading stage j % 2 and Q.
//   5. __syncthreads: all warps are done reading stage j % 2 before iteration j+1 (step 1)
//      overwrites it with tile j+2.
//
// Tile j+1 thus streams in while tile j is computed. The Q tile is read by its own warp only
// (each warp ldmatrix-es its 16 rows), so after the loop each warp stages its O rows in its own
// Q rows (step 5 of the last iteration orders all Q reads before these writes) and, after a
// __syncwarp, copies them out as whole 16-byte row chunks.
//
// Zero fill: chunks of rows past the row length, or of columns ≥ head_dim, are cp.async-ed with
// src-size 0, which writes 16 zero bytes and reads nothing. Zero K rows and columns keep scores
// finite before masking; zero V rows keep P V free of NaN garbage (0 · NaN would be NaN).
//
// Masking: key j of the row is visible to query i iff j < len and (not causal or j ≤ i). A tile
// gets the per-element mask only if it crosses the row's end or, causal, the diagonal of this
// block's first query row. With causal, key tiles entirely above the diagonal (starting past the
// block's last query row) are never loaded. Query rows ≥ len are computed on zero Q and not stored.

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <stdint.h>

#include "tensor_core.cuh"

namespace attune {
namespace flash_sm80 {

// ─── Tile traits ──────────────────────────────────────────────────────────────────────────────

template <int D>
struct FlashSm80Traits {
    static constexpr int kHeadDim = D;
    static constexpr int kThreads = 128;
    static constexpr int kWarps = kThreads / 32;
    static constexpr int kRowsPerWarp = 16;                        // one m16 MMA row block
    static constexpr int kBlockM = kWarps * kRowsPerWarp;          // 64
    static constexpr int kBlockN = D <= 64 ? 128 : D <= 128 ? 64 : 32;
    static constexpr int kStages = 2;

    static constexpr int kChunksPerRow = D / 8;                    // 16-byte chunks of 8 elements
    static constexpr int kKSteps = D / 16;                         // k-steps of Q Kᵀ, d-tile pairs of P V
    static constexpr int kKeyPairs = kBlockN / 16;                 // key n-tile pairs of Q Kᵀ, k-steps of P V
    static constexpr int kScoreTiles = kBlockN / 8;                // n8 tiles of S per warp
    static constexpr int kOutTiles = D / 8;                        // n8 tiles of O per warp

    // Shared memory, in bytes; FlashSm80Launch computes the same.
    static constexpr int kQBytes = kBlockM * D * 2;
    static constexpr int kKvStageBytes = kBlockN * D * 2;
    static constexpr int kKOffset = kQBytes;
    static constexpr int kVOffset = kQBytes + kStages * kKvStageBytes;
    static constexpr int kSmemBytes = kQBytes + 2 * kStages * kKvStageBytes;

    // Global → shared copies: threads sharing one row of a tile (the largest power of two ≤ 32
    // dividing the row's chunks), so a warp reads whole rows, 64 to 512 contiguous bytes each.
    static constexpr int kLoadThreadsPerRow = kChunksPerRow % 32 == 0 ? 32
                                              : kChunksPerRow % 16 == 0 ? 16
                                              : kChunksPerRow % 8 == 0  ? 8
                                                                        : 4;
    // 16-byte chunks each lane copies out of its warp's 16 staged O rows.
    static constexpr int kOutChunksPerLane = kRowsPerWarp * kChunksPerRow / 32;

    static_assert(D % 32 == 0 && D >= 32 && D <= 256, "compiled head dims are multiples of 32 up to 256");
    static_assert(kChunksPerRow % 8 == 0 || kChunksPerRow % 8 == 4, "swizzle needs 0 or 4 chunks mod 8 per row");
    static_assert(kBlockM % (kThreads / kLoadThreadsPerRow) == 0, "Q tile splits evenly over the block");
    static_assert(kBlockN % (kThreads / kLoadThreadsPerRow) == 0, "K/V tile splits evenly over the block");
    static_assert(kRowsPerWarp * kChunksPerRow % 32 == 0, "O rows split evenly over the warp");
    static_assert(kBlockN % 16 == 0 && kBlockN >= 16, "key tiles are whole k16 steps");
};

// Swizzle of a tile whose rows are D elements (header): chunk c of row r is stored at chunk
// c ^ ((r >> kShift) & kMask).
template <int D>
struct Swizzle {
    static constexpr int kChunksPerRow = D / 8;
    static constexpr int kRowBytes = D * 2;
    static constexpr int kMask = kChunksPerRow % 8 == 0 ? 7 : 3;
    static constexpr int kShift = kChunksPerRow % 8 == 0 ? 0 : 1;
    // ldmatrix addresses (chunk 2ks + lane / 16 of row 16i + lane % 16) repeat their XOR pattern
    // every kPatterns k-steps; beyond that only an immediate offset changes.
    static constexpr int kPatterns = (kMask + 1) / 2;

    // Byte offset of chunk `chunk` of row `row`.
    static __host__ __device__ __forceinline__ uint32_t offset(int row, int chunk) {
        const int physical = chunk ^ ((row >> kShift) & kMask);
        return static_cast<uint32_t>(row * kRowBytes + physical * 16);
    }

    // Per-lane part of the ldmatrix address for k-steps ks ≡ j (mod kPatterns), j < kPatterns:
    // row 16i + ld_row has swizzle (ld_row >> kShift) & kMask for every i (16i >> kShift is a
    // multiple of 8), and 2ks + ld_chunk differs from 2j + ld_chunk only above the mask bits.
    static __host__ __device__ __forceinline__ uint32_t ldmatrix_lane_offset(int ld_row, int ld_chunk, int j) {
        const int physical = ((2 * j) | ld_chunk) ^ ((ld_row >> kShift) & kMask);
        return static_cast<uint32_t>(ld_row * kRowBytes + physical * 16);
    }

    // Byte offset of the ldmatrix row address of a lane for the sub-tile at rows 16i.., k-step
    // ks, given lane_offsets[j] = ldmatrix_lane_offset(ld_row, ld_chunk, j); equals
    // offset(16i + ld_row, 2ks + ld_chunk). With i and ks unrolled constants this is one register
    // plus an immediate, instead of one live address register per (i, ks).
    static __host__ __device__ __forceinline__ uint32_t ldmatrix_offset(const uint32_t (&lane_offsets)[kPatterns],
                                                                       int i, int ks) {
        return lane_offsets[ks % kPatterns] + static_cast<uint32_t>(16 * i * kRowBytes + (ks - ks % kPatterns) * 32);
    }
};

// ─── Tile loads ───────────────────────────────────────────────────────────────────────────────

// Issues (does not commit) the cp.async copies of kRows rows of one head into a swizzled tile:
// tile row r ← global token first_token + r. Rows r ≥ valid_rows and chunks at or past head_dim
// are zero-filled. kThreadsPerRow consecutive threads share a row (a warp covers whole rows with
// contiguous 16-byte chunks), each thread taking every kThreadsPerRow-th chunk of it; the block
// covers 128 / kThreadsPerRow rows per pass.
//
// base: (tokens, head_dim) with token pitch `stride`, already offset to this head.
template <int D, int kRows, typename T>
__device__ __forceinline__ void load_tile(uint32_t tile, const T* base, int64_t stride, int first_token,
                                          int valid_rows, int head_dim_chunks, int tid) {
    using Tr = FlashSm80Traits<D>;
    constexpr int kThreadsPerRow = Tr::kLoadThreadsPerRow;
    constexpr int kRowsPerPass = Tr::kThreads / kThreadsPerRow;
    constexpr int kChunksPerThread = Tr::kChunksPerRow / kThreadsPerRow;
    static_assert(kRows % kRowsPerPass == 0, "tile rows split evenly into passes");
    const int r0 = tid / kThreadsPerRow;
    const int c0 = tid % kThreadsPerRow;
    const T* row_src = base + static_cast<int64_t>(first_token + r0) * stride + c0 * 8;
#pragma unroll
    for (int i = 0; i < kRows / kRowsPerPass; ++i) {
        const int r = r0 + i * kRowsPerPass;
#pragma unroll
        for (int j = 0; j < kChunksPerThread; ++j) {
            const int c = c0 + j * kThreadsPerRow;
            const bool valid = r < valid_rows && c < head_dim_chunks;
            const T* src = valid ? row_src + static_cast<int64_t>(i * kRowsPerPass) * stride + j * kThreadsPerRow * 8
                                 : base;
            cp_async_16(tile + Swizzle<D>::offset(r, c), src, valid ? 16 : 0);
        }
    }
}

// ─── Kernel body ──────────────────────────────────────────────────────────────────────────────

template <typename T, int D>
__device__ __forceinline__ void flash_fwd(const T* q, const T* k, const T* v, T* o, const int* cu_seqlens,
                                          int heads, int head_dim, int q_stride, int kv_stride, int o_stride,
                                          float scale, int causal) {
    using Tr = FlashSm80Traits<D>;
    constexpr int kBlockM = Tr::kBlockM;
    constexpr int kBlockN = Tr::kBlockN;
    (void)heads;  // part of the shared ABI; the head is blockIdx.y

    const int m_block = blockIdx.x;
    const int head = blockIdx.y;
    const int batch_row = blockIdx.z;

    const int seq_start = cu_seqlens[batch_row];
    const int len = cu_seqlens[batch_row + 1] - seq_start;
    const int m0 = m_block * kBlockM;  // first query row of this block, within the batch row
    // No work: return before any barrier (the whole block takes this branch together).
    if (m0 >= len) {
        return;
    }

    extern __shared__ __align__(128) unsigned char smem[];
    const uint32_t s_q = smem_address(smem);
    const uint32_t s_k = s_q + Tr::kKOffset;
    const uint32_t s_v = s_q + Tr::kVOffset;

    const int tid = threadIdx.x;
    const int warp = tid / 32;
    const int lane = tid % 32;
    const int g = lane / 4;  // C-fragment row (and row + 8) this lane holds
    const int t = lane % 4;  // C-fragment column pair 2t, 2t+1 this lane holds
    const int head_dim_chunks = head_dim / 8;

    // This head's slices: (tokens, head_dim) with token pitches q_stride, kv_stride, o_stride.
    const int64_t head_offset = static_cast<int64_t>(head) * head_dim;
    const T* q_head = q + head_offset;
    const T* k_head = k + head_offset;
    const T* v_head = v + head_offset;

    // Keys this block needs: all of the row, or with causal only up to its last query row.
    const int n_end = causal ? min(len, m0 + kBlockM) : len;
    const int n_tiles = (n_end + kBlockN - 1) / kBlockN;  // ≥ 1 since n_end ≥ 1

    // Prologue: Q and key tile 0 form group 0.
    load_tile<D, kBlockM>(s_q, q_head, q_stride, seq_start + m0, len - m0, head_dim_chunks, tid);
    load_tile<D, kBlockN>(s_k, k_head, kv_stride, seq_start, len, head_dim_chunks, tid);
    load_tile<D, kBlockN>(s_v, v_head, kv_stride, seq_start, len, head_dim_chunks, tid);
    cp_async_commit();

    // (16 rows of this warp, D) fp32 accumulator: acc_o[n][0..1] row g, [2..3] row g + 8,
    // columns 8n + 2t, 8n + 2t + 1.
    float acc_o[Tr::kOutTiles][4];
    clear_fragments(acc_o);
    // Running softmax state of rows g ([0]) and g + 8 ([1]): max of scaled scores (quad-uniform)
    // and this lane's partial sum of exponentials.
    float row_max[2] = {-INFINITY, -INFINITY};
    float row_sum[2] = {0.f, 0.f};

    const float scale_log2 = scale * 1.4426950408889634f;
    const int warp_row = warp * Tr::kRowsPerWarp;  // first tile row of this warp
    // Query rows (within the batch row) of this lane's C-fragment rows g and g + 8.
    const int query_row0 = m0 + warp_row + g;
    const int query_row1 = query_row0 + 8;

    // ldmatrix row addresses (header): lane gives tile row lane % 16 of chunk lane / 16 of each
    // 16 × 16 sub-tile; the same per-lane offsets serve Q, K and V (same D, same swizzle).
    using Sw = Swizzle<D>;
    uint32_t ld_offsets[Sw::kPatterns];
#pragma unroll
    for (int j = 0; j < Sw::kPatterns; ++j) {
        ld_offsets[j] = Sw::ldmatrix_lane_offset(lane % 16, lane / 16, j);
    }
    const uint32_t s_q_warp = s_q + warp_row * Sw::kRowBytes;  // this warp's 16 Q rows

    for (int tile = 0; tile < n_tiles; ++tile) {
        const int stage = tile & 1;
        const int n0 = tile * kBlockN;  // first key of this tile

        // 1. Prefetch tile + 1 into the other stage (freed by the barrier ending the last
        //    iteration); always commit, so that wait_group 1 below means "up to this tile".
        if (tile + 1 < n_tiles) {
            const int next = n0 + kBlockN;
            const uint32_t off = (stage ^ 1) * Tr::kKvStageBytes;
            load_tile<D, kBlockN>(s_k + off, k_head, kv_stride, seq_start + next, len - next, head_dim_chunks, tid);
            load_tile<D, kBlockN>(s_v + off, v_head, kv_stride, seq_start + next, len - next, head_dim_chunks, tid);
        }
        cp_async_commit();
        // 2-3. This tile (and, first time round, Q) has landed for every thread.
        cp_async_wait<1>();
        __syncthreads();

        const uint32_t s_k_stage = s_k + stage * Tr::kKvStageBytes;
        const uint32_t s_v_stage = s_v + stage * Tr::kKvStageBytes;

        // 4a. S = Q Kᵀ: (16 rows of this warp, kBlockN keys) in kScoreTiles C fragments.
        float acc_s[Tr::kScoreTiles][4];
        clear_fragments(acc_s);
#pragma unroll
        for (int ks = 0; ks < Tr::kKSteps; ++ks) {
            uint32_t a[4];  // Q rows warp_row..+15, d 16ks..16ks+15
            ldmatrix_x4(a, s_q_warp + Sw::ldmatrix_offset(ld_offsets, 0, ks));
#pragma unroll
            for (int np = 0; np < Tr::kKeyPairs; ++np) {
                uint32_t b[4];  // K keys 16np..16np+15, d 16ks..16ks+15
                ldmatrix_x4(b, s_k_stage + Sw::ldmatrix_offset(ld_offsets, np, ks));
                mma_m16n8k16<T>(acc_s[2 * np], a, b[0], b[2]);
                mma_m16n8k16<T>(acc_s[2 * np + 1], a, b[1], b[3]);
            }
        }

        // 4b. Scale into the log2 domain; mask keys past the row's end and, causal, above the
        //     diagonal. Only tiles crossing either boundary pay for the per-element test.
#pragma unroll
        for (int n = 0; n < Tr::kScoreTiles; ++n) {
#pragma unroll
            for (int e = 0; e < 4; ++e) {
                acc_s[n][e] *= scale_log2;
            }
        }
        const bool needs_mask = n0 + kBlockN > len || (causal && n0 + kBlockN - 1 > m0);
        if (needs_mask) {
#pragma unroll
            for (int n = 0; n < Tr::kScoreTiles; ++n) {
#pragma unroll
                for (int e = 0; e < 4; ++e) {
                    const int key = n0 + 8 * n + 2 * t + (e & 1);
                    const int query = e < 2 ? query_row0 : query_row1;
                    if (key >= len || (causal && key > query)) {
                        acc_s[n][e] = -INFINITY;
                    }
                }
            }
        }

        // 4c. Online softmax update (header): new row max over the quad, rescale, exponentiate.
        float alpha[2];
#pragma unroll
        for (int h = 0; h < 2; ++h) {
            float mx = row_max[h];
#pragma unroll
            for (int n = 0; n < Tr::kScoreTiles; ++n) {
                mx = fmaxf(mx, fmaxf(acc_s[n][2 * h], acc_s[n][2 * h + 1]));
            }
            mx = quad_max(mx);  // the 4 lanes of a quad (same g) hold the rest of rows g and g + 8
            // No visible key yet: subtract 0, so exp2(−∞ − 0) = 0 rather than NaN.
            const float m_sub = mx == -INFINITY ? 0.f : mx;
            alpha[h] = exp2f(row_max[h] - m_sub);
            row_max[h] = mx;
            float sum = 0.f;
#pragma unroll
            for (int n = 0; n < Tr::kScoreTiles; ++n) {
                acc_s[n][2 * h] = exp2f(acc_s[n][2 * h] - m_sub);
                acc_s[n][2 * h + 1] = exp2f(acc_s[n][2 * h + 1] - m_sub);
                sum += acc_s[n][2 * h] + acc_s[n][2 * h + 1];
            }
            row_sum[h] = row_sum[h] * alpha[h] + sum;
        }
#pragma unroll
        for (int n = 0; n < Tr::kOutTiles; ++n) {
            acc_o[n][0] *= alpha[0];
            acc_o[n][1] *= alpha[0];
            acc_o[n][2] *= alpha[1];
            acc_o[n][3] *= alpha[1];
        }

        // 4d. O += P V: P's A fragment for keys 16kk..16kk+15 is S tiles 2kk and 2kk+1 (header).
#pragma unroll
        for (int kk = 0; kk < Tr::kKeyPairs; ++kk) {
            uint32_t p[4];
            p[0] = pack2<T>(acc_s[2 * kk][0], acc_s[2 * kk][1]);
            p[1] = pack2<T>(acc_s[2 * kk][2], acc_s[2 * kk][3]);
            p[2] = pack2<T>(acc_s[2 * kk + 1][0], acc_s[2 * kk + 1][1]);
            p[3] = pack2<T>(acc_s[2 * kk + 1][2], acc_s[2 * kk + 1][3]);
#pragma unroll
            for (int dp = 0; dp < Tr::kKSteps; ++dp) {
                uint32_t b[4];  // V keys 16kk..16kk+15, d 16dp..16dp+15, transposed
                ldmatrix_x4_trans(b, s_v_stage + Sw::ldmatrix_offset(ld_offsets, kk, dp));
                mma_m16n8k16<T>(acc_o[2 * dp], p, b[0], b[1]);
                mma_m16n8k16<T>(acc_o[2 * dp + 1], p, b[2], b[3]);
            }
        }

        // 5. Every warp is done with this stage before the next iteration refills it.
        __syncthreads();
    }

    // Epilogue: full row sums, O / l, staged through this warp's own Q rows (no other warp reads
    // them; the loop's last barrier ordered this warp's Q reads before these writes).
    float inv_sum[2];
#pragma unroll
    for (int h = 0; h < 2; ++h) {
        const float l = quad_sum(row_sum[h]);
        inv_sum[h] = l > 0.f ? 1.f / l : 0.f;
    }
#pragma unroll
    for (int n = 0; n < Tr::kOutTiles; ++n) {
        const uint32_t lo = pack2<T>(acc_o[n][0] * inv_sum[0], acc_o[n][1] * inv_sum[0]);
        const uint32_t hi = pack2<T>(acc_o[n][2] * inv_sum[1], acc_o[n][3] * inv_sum[1]);
        // Row g / g + 8 of the warp, columns 8n + 2t, 8n + 2t + 1: chunk n, bytes 4t..4t+3.
        const uint32_t off_lo = Sw::offset(warp_row + g, n) + 4 * t;
        const uint32_t off_hi = Sw::offset(warp_row + g + 8, n) + 4 * t;
        *reinterpret_cast<uint32_t*>(smem + off_lo) = lo;
        *reinterpret_cast<uint32_t*>(smem + off_hi) = hi;
    }
    __syncwarp();

    // (16 rows, head_dim) of this warp → o, one 16-byte chunk per lane per step; rows past the
    // row's end and columns past head_dim are not stored.
    T* o_head = o + head_offset;
#pragma unroll
    for (int i = 0; i < Tr::kOutChunksPerLane; ++i) {
        const int idx = lane + 32 * i;
        const int r = idx / Tr::kChunksPerRow;
        const int c = idx % Tr::kChunksPerRow;
        const int query = m0 + warp_row + r;
        if (query < len && c < head_dim_chunks) {
            const uint4 chunk = *reinterpret_cast<const uint4*>(smem + Sw::offset(warp_row + r, c));
            *reinterpret_cast<uint4*>(o_head + static_cast<int64_t>(seq_start + query) * o_stride + c * 8) = chunk;
        }
    }
}

}  // namespace flash_sm80
}  // namespace attune

// ─── Entry points ─────────────────────────────────────────────────────────────────────────────

#define ATTUNE_FLASH_SM80_KERNEL(SUFFIX, T, D)                                                          \
    extern "C" __global__ void __launch_bounds__(attune::flash_sm80::FlashSm80Traits<D>::kThreads)      \
        flash_sm80_fwd_##SUFFIX##_d##D(const T* q, const T* k, const T* v, T* o, const int* cu_seqlens,  \
                                       int heads, int head_dim, int q_stride, int kv_stride,            \
                                       int o_stride, float scale, int causal) {                         \
        attune::flash_sm80::flash_fwd<T, D>(q, k, v, o, cu_seqlens, heads, head_dim, q_stride,          \
                                            kv_stride, o_stride, scale, causal);                        \
    }

#define ATTUNE_FLASH_SM80_KERNELS(D)                 \
    ATTUNE_FLASH_SM80_KERNEL(f16, __half, D)         \
    ATTUNE_FLASH_SM80_KERNEL(bf16, __nv_bfloat16, D)

ATTUNE_FLASH_SM80_KERNELS(32)
ATTUNE_FLASH_SM80_KERNELS(64)
ATTUNE_FLASH_SM80_KERNELS(96)
ATTUNE_FLASH_SM80_KERNELS(128)
ATTUNE_FLASH_SM80_KERNELS(160)
ATTUNE_FLASH_SM80_KERNELS(192)
ATTUNE_FLASH_SM80_KERNELS(224)
ATTUNE_FLASH_SM80_KERNELS(256)

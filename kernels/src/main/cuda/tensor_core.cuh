// Warp-level tensor-core primitives shared by the flash and GEMM kernels: one wrapper per PTX
// instruction, documented here once. Kernels describe how their tiles map onto these fragments;
// this header only says what each instruction does.
//
// Fragments (PTX ISA, "Matrix fragments for mma.m16n8k16" and "... mma.m16n8k8"). In a warp,
// lane = 4·g + t with g = lane / 4 (the "group", 0..7) and t = lane % 4 (0..3). Every .b32
// register of A or B packs two 16-bit elements, the lower k (or column) index in the low half.
//
//   m16n8k16   A (16 × 16, row-major)   a0 = A[g][2t..2t+1]     a1 = A[g+8][2t..2t+1]
//                                       a2 = A[g][2t+8..2t+9]   a3 = A[g+8][2t+8..2t+9]
//              B (16 × 8, "col")        b0 = B[2t..2t+1][g]     b1 = B[2t+8..2t+9][g]
//   m16n8k8    A (16 × 8, row-major)    a0 = A[g][2t..2t+1]     a1 = A[g+8][2t..2t+1]
//              B (8 × 8, "col")         b0 = B[2t..2t+1][g]
//   C, D (16 × 8, fp32, both shapes)    c0, c1 = C[g][2t], C[g][2t+1]
//                                       c2, c3 = C[g+8][2t], C[g+8][2t+1]
//
// So a lane owns rows g and g + 8 of every C tile, and the 4 lanes of a quad (lanes 4g..4g+3,
// which differ only in lane bits 0 and 1) together own those two rows: quad_max and quad_sum
// below reduce across them.
//
// ldmatrix.sync.aligned.m8n8.x4(.trans).shared.b16 loads four 8 × 8 b16 matrices: lanes
// 8i..8i+7 give the shared addresses of rows 0..7 of matrix i (16 contiguous bytes, 16-byte
// aligned), and register i of lane (g, t) receives, of matrix i, M[g][2t..2t+1] (without .trans)
// or M[2t..2t+1][g] (with .trans): an A fragment half, a B fragment of a row-major Bᵀ, or with
// .trans a B fragment of a row-major B.
//
// Compiler ordering. Every wrapper whose instruction reads or writes shared memory, or waits on
// copies into it, is `asm volatile` with a "memory" clobber. The compiler sees neither the shared
// access nor its dependence on a barrier: without `volatile` it may hoist a loop-invariant
// ldmatrix (say, of the Q fragments) above the __syncthreads that publishes the data, or drop one
// whose result looks unused; without the clobber it may move ordinary shared-memory loads and
// stores (an epilogue staging its output in a tile that ldmatrix read) across the asm, or sink a
// cp.async past the barrier that must follow it. The mma and cvt wrappers touch registers only
// and stay plain asm, which leaves the compiler free to schedule them.
//
// Architectures: cp.async, m16n8k16 with bf16, and the paired cvt.rn.{f16x2,bf16x2}.f32 exist
// from sm_80 (PTX ISA 7.0); ldmatrix and m16n8k8 from sm_75 (ISA 6.5); m16n8k16 f16 from sm_80
// too. An inline function that is never called emits nothing, so the sm_75 modules include this
// header and still assemble at ISA 6.5; calling an sm_80 wrapper from one would fail the build
// (ptxas rejects the instruction), not the kernel.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <stdint.h>

// The host emulator (kernels/src/test/emulation) replaces the instruction wrappers below with
// implementations of the same PTX semantics; the fragment helpers after them are plain CUDA C.
#ifdef ATTUNE_HOST_EMULATION
#include <attune_emulation/tensor_core_host.h>
#else
namespace attune {

// 32-bit shared-window address of a generic pointer into shared memory, as ldmatrix and cp.async
// take it.
__device__ __forceinline__ uint32_t smem_address(const void* p) {
    return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

// ─── cp.async (sm_80+) ────────────────────────────────────────────────────────────────────────

// 16 bytes global → shared, bypassing L1 (.cg). src_bytes = 0 reads nothing and writes 16 zero
// bytes (src must still be a valid address). Both addresses 16-byte aligned. The copy is only
// issued: it belongs to the thread's next commit group and is complete once a cp_async_wait
// has retired that group.
__device__ __forceinline__ void cp_async_16(uint32_t dst, const void* src, int src_bytes) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src), "r"(src_bytes)
                 : "memory");
}

// Closes this thread's current group of cp.async copies (an empty group when none was issued).
__device__ __forceinline__ void cp_async_commit() {
    asm volatile("cp.async.commit_group;\n" ::: "memory");
}

// Waits until at most N of this thread's committed groups are still in flight. It orders the
// calling thread's own copies only: a __syncthreads must follow before other threads read them.
template <int N>
__device__ __forceinline__ void cp_async_wait() {
    asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
}

// ─── ldmatrix (sm_75+) ────────────────────────────────────────────────────────────────────────

// Four 8 × 8 b16 matrices; lane l addresses row l % 8 of matrix l / 8 (header).
__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], uint32_t addr) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(addr)
                 : "memory");
}

// As ldmatrix_x4, each matrix transposed: register i of lane (g, t) holds M_i[2t..2t+1][g].
__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t (&r)[4], uint32_t addr) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(addr)
                 : "memory");
}

// ─── mma.sync ─────────────────────────────────────────────────────────────────────────────────

// c (16 × 8, f32) += a (16 × 16, T, row) · b (16 × 8, T, col), T = __half or __nv_bfloat16
// (sm_80+). a = {a0..a3}, b = {b0, b1} as in the header.
template <typename T>
__device__ __forceinline__ void mma_m16n8k16(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1);

template <>
__device__ __forceinline__ void mma_m16n8k16<__half>(float (&c)[4], const uint32_t (&a)[4], uint32_t b0,
                                                     uint32_t b1) {
    asm("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
        "{%0, %1, %2, %3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

template <>
__device__ __forceinline__ void mma_m16n8k16<__nv_bfloat16>(float (&c)[4], const uint32_t (&a)[4], uint32_t b0,
                                                            uint32_t b1) {
    asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
        "{%0, %1, %2, %3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// c (16 × 8, f32) += a (16 × 8, f16, row) · b (8 × 8, f16, col), the Turing shape (sm_75+).
__device__ __forceinline__ void mma_m16n8k8_f16(float (&c)[4], uint32_t a0, uint32_t a1, uint32_t b0) {
    asm("mma.sync.aligned.m16n8k8.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5}, {%6}, {%0, %1, %2, %3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a0), "r"(a1), "r"(b0));
}

// ─── Fragment conversion and reductions ───────────────────────────────────────────────────────

// Two fp32 values rounded to nearest even into one .b32 of two T, `lo` in the low half (the lower
// column index), which turns a pair of C-fragment values into an A- or B-fragment register.
// From sm_80 one cvt.rn.{f16x2,bf16x2}.f32; fp16 below sm_80 takes two cvt.rn.f16.f32 (the same
// results). bf16 is sm_80-only, as are the instructions that consume it.
template <typename T>
__device__ __forceinline__ uint32_t pack2(float lo, float hi);

template <>
__device__ __forceinline__ uint32_t pack2<__half>(float lo, float hi) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    uint32_t r;
    asm("cvt.rn.f16x2.f32 %0, %1, %2;\n" : "=r"(r) : "f"(hi), "f"(lo));
    return r;
#else
    return static_cast<uint32_t>(__half_as_ushort(__float2half_rn(lo))) |
           (static_cast<uint32_t>(__half_as_ushort(__float2half_rn(hi))) << 16);
#endif
}

template <>
__device__ __forceinline__ uint32_t pack2<__nv_bfloat16>(float lo, float hi) {
    uint32_t r;
    asm("cvt.rn.bf16x2.f32 %0, %1, %2;\n" : "=r"(r) : "f"(hi), "f"(lo));
    return r;
}

}  // namespace attune
#endif  // ATTUNE_HOST_EMULATION

namespace attune {

// Max and sum over the quad that shares this lane's C-fragment rows (lanes 4g..4g+3); every lane
// of the quad gets the result. All 32 lanes must call them together (full-mask shuffles).
__device__ __forceinline__ float quad_max(float x) {
    x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, 1));
    return fmaxf(x, __shfl_xor_sync(0xffffffffu, x, 2));
}

__device__ __forceinline__ float quad_sum(float x) {
    x += __shfl_xor_sync(0xffffffffu, x, 1);
    return x + __shfl_xor_sync(0xffffffffu, x, 2);
}

// Zeroes a row of C fragments, or a grid of them.
template <int N>
__device__ __forceinline__ void clear_fragments(float (&c)[N][4]) {
#pragma unroll
    for (int n = 0; n < N; ++n) {
#pragma unroll
        for (int e = 0; e < 4; ++e) {
            c[n][e] = 0.0f;
        }
    }
}

template <int M, int N>
__device__ __forceinline__ void clear_fragments(float (&c)[M][N][4]) {
#pragma unroll
    for (int i = 0; i < M; ++i) {
        clear_fragments(c[i]);
    }
}

}  // namespace attune

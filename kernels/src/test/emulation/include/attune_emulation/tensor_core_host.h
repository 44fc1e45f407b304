// Host implementation of tensor_core.cuh's instruction wrappers, with the semantics the PTX ISA
// gives them (fragment layouts in tensor_core.cuh). Included by tensor_core.cuh in place of the
// inline-asm wrappers when ATTUNE_HOST_EMULATION is defined; the collective ones are executed by
// the scheduler once all 32 lanes of the warp have arrived (runtime.cpp).
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <stdint.h>

#include "runtime.h"

namespace attune {

inline uint32_t smem_address(const void* p) { return attune_emu::shared_offset(p); }

inline void cp_async_16(uint32_t dst, const void* src, int src_bytes) { attune_emu::cp_async_16(dst, src, src_bytes); }
inline void cp_async_commit() { attune_emu::cp_async_commit(); }
template <int N>
inline void cp_async_wait() { attune_emu::cp_async_wait(N); }

inline void ldmatrix_x4(uint32_t (&r)[4], uint32_t addr) { attune_emu::ldmatrix_x4(r, addr, false); }
inline void ldmatrix_x4_trans(uint32_t (&r)[4], uint32_t addr) { attune_emu::ldmatrix_x4(r, addr, true); }

template <typename T>
inline void mma_m16n8k16(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1);

template <>
inline void mma_m16n8k16<__half>(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
    const uint32_t b[2] = {b0, b1};
    attune_emu::mma(attune_emu::MmaKind::F16_M16N8K16, c, a, b);
}

template <>
inline void mma_m16n8k16<__nv_bfloat16>(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
    const uint32_t b[2] = {b0, b1};
    attune_emu::mma(attune_emu::MmaKind::BF16_M16N8K16, c, a, b);
}

inline void mma_m16n8k8_f16(float (&c)[4], uint32_t a0, uint32_t a1, uint32_t b0) {
    const uint32_t a[2] = {a0, a1};
    const uint32_t b[1] = {b0};
    attune_emu::mma(attune_emu::MmaKind::F16_M16N8K8, c, a, b);
}

// cvt.rn.{f16x2,bf16x2}.f32: round to nearest even, `lo` in the low half.
template <typename T>
inline uint32_t pack2(float lo, float hi);

template <>
inline uint32_t pack2<__half>(float lo, float hi) {
    return static_cast<uint32_t>(__half_as_ushort(__float2half_rn(lo))) |
           (static_cast<uint32_t>(__half_as_ushort(__float2half_rn(hi))) << 16);
}

template <>
inline uint32_t pack2<__nv_bfloat16>(float lo, float hi) {
    return static_cast<uint32_t>(__bfloat16_as_ushort(__float2bfloat16_rn(lo))) |
           (static_cast<uint32_t>(__bfloat16_as_ushort(__float2bfloat16_rn(hi))) << 16);
}

}  // namespace attune

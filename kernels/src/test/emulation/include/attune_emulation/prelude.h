// Force-included (g++ -include) before every CUDA source compiled for the host emulator: it makes
// CUDA C valid host C++20 without touching the sources.
//
// Execution model (runtime.cpp): one CUDA thread is one fiber; the fibers of a block run on one OS
// thread, each until its next barrier or warp-collective instruction, so blocks are deterministic
// for a given schedule seed. Because a whole block lives on one OS thread, `__shared__` can be
// `thread_local`: a function-local __shared__ array is then one instance per block, shared by all
// its fibers, and `extern __shared__` (dynamic shared memory) names a thread_local array that the
// module's registration file defines (ATTUNE_EMU_DYNAMIC_SHARED).
#pragma once

#define ATTUNE_HOST_EMULATION 1

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <vector_types.h>

#include <cmath>
#include <cstdint>
#include <cstring>

// The CUDA headers, read by a host compiler, define these as annotations g++ does not know.
#undef __global__
#undef __device__
#undef __host__
#undef __forceinline__
#undef __launch_bounds__
#undef __align__
#undef __shared__
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __align__(n) __attribute__((aligned(n)))
#define __shared__ thread_local

#include "runtime.h"

// Built-in variables (runtime.cpp): set by the scheduler each time it switches to a fiber.
extern uint3 threadIdx;
extern uint3 blockIdx;
extern dim3 blockDim;
extern dim3 gridDim;

// ─── Barriers and warp collectives (runtime.cpp schedules them) ──────────────────────────────

inline void __syncthreads() { attune_emu::sync_threads(); }
inline void __syncwarp(unsigned mask = 0xffffffffu) { attune_emu::sync_warp(mask); }

template <typename V>
inline V attune_emu_shuffle(unsigned mask, V v, int lane_arg, attune_emu::ShuffleKind kind) {
    static_assert(sizeof(V) == 4 || sizeof(V) == 8, "shuffles move 32-bit words");
    uint32_t words[2] = {0, 0};
    std::memcpy(words, &v, sizeof(V));
    for (unsigned i = 0; i < sizeof(V) / 4; ++i) {
        words[i] = attune_emu::shuffle(mask, words[i], lane_arg, kind);
    }
    V r;
    std::memcpy(&r, words, sizeof(V));
    return r;
}
template <typename V>
inline V __shfl_xor_sync(unsigned mask, V v, int lane_mask, int width = 32) {
    attune_emu::require_full_width(width);
    return attune_emu_shuffle(mask, v, lane_mask, attune_emu::ShuffleKind::Xor);
}
template <typename V>
inline V __shfl_sync(unsigned mask, V v, int src_lane, int width = 32) {
    attune_emu::require_full_width(width);
    return attune_emu_shuffle(mask, v, src_lane, attune_emu::ShuffleKind::Index);
}
template <typename V>
inline V __shfl_down_sync(unsigned mask, V v, unsigned delta, int width = 32) {
    attune_emu::require_full_width(width);
    return attune_emu_shuffle(mask, v, static_cast<int>(delta), attune_emu::ShuffleKind::Down);
}

// Fibers never run concurrently, so read-modify-write is atomic by construction.
template <typename V>
inline V atomicAdd(V* address, V value) {
    const V old = *address;
    *address = old + value;
    return old;
}

// ─── Device intrinsics with host equivalents ─────────────────────────────────────────────────

template <typename V>
inline V __ldg(const V* p) { return *p; }
inline unsigned int __float_as_uint(float x) { unsigned int u; std::memcpy(&u, &x, 4); return u; }
inline float __uint_as_float(unsigned int u) { float x; std::memcpy(&x, &u, 4); return x; }
inline int __float_as_int(float x) { int u; std::memcpy(&u, &x, 4); return u; }
inline float __int_as_float(int u) { float x; std::memcpy(&x, &u, 4); return x; }
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
inline float __fdividef(float a, float b) { return a / b; }
inline float __expf(float x) { return std::exp(x); }
inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }
inline long long min(long long a, long long b) { return a < b ? a : b; }
inline long long max(long long a, long long b) { return a > b ? a : b; }
inline unsigned min(unsigned a, unsigned b) { return a < b ? a : b; }
inline unsigned max(unsigned a, unsigned b) { return a > b ? a : b; }

// Generic → shared-window address: the offset into the block's dynamic shared memory (the only
// shared memory the kernels address numerically), range-checked.
inline size_t __cvta_generic_to_shared(const void* p) { return attune_emu::shared_offset(p); }

namespace attune_emu {
// mem_efficient.cu's ld.shared.v4.f32 wrapper.
inline float4 lds_f32x4(const float* p) {
    float4 r;
    std::memcpy(&r, shared_bytes(shared_offset(p), 16, 16, "ld.shared.v4.f32"), 16);
    return r;
}
}  // namespace attune_emu

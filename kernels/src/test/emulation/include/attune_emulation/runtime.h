// The emulator's scheduler interface: what the prelude and the host tensor-core header call.
// Everything here runs on the fiber of the calling CUDA thread (runtime.cpp).
#pragma once

#include <cstddef>
#include <cstdint>

namespace attune_emu {

// Largest dynamic shared memory a launch may ask for (sm_90's 227 KiB per block).
inline constexpr size_t kDynamicSharedCapacity = 227 * 1024;

// Reports a kernel error (out-of-bounds access, divergent barrier, ...) with the current block
// and thread, and ends the process with exit status 3.
[[noreturn]] void fail(const char* format, ...) __attribute__((format(printf, 1, 2)));

// ─── Scheduling points ───────────────────────────────────────────────────────────────────────

// __syncthreads: every thread of the block must arrive; a block where some threads exited and
// others wait is reported, as is a warp split between a barrier and a collective.
void sync_threads();
// __syncwarp with a full mask: the 32 lanes of the warp meet.
void sync_warp(unsigned mask);

enum class ShuffleKind { Xor, Index, Down };
uint32_t shuffle(unsigned mask, uint32_t word, int lane_arg, ShuffleKind kind);
void require_full_width(int width);

// Warp-collective tensor-core instructions, executed once all 32 lanes arrived (PTX ISA
// fragment layouts; see tensor_core.cuh).
void ldmatrix_x4(uint32_t (&r)[4], uint32_t shared_address, bool trans);
enum class MmaKind { F16_M16N8K16, BF16_M16N8K16, F16_M16N8K8 };
void mma(MmaKind kind, float (&c)[4], const uint32_t* a, const uint32_t* b);

// ─── Shared memory ───────────────────────────────────────────────────────────────────────────

// Offset of p within the block's dynamic shared memory; fails outside [0, launch bytes].
uint32_t shared_offset(const void* p);
// The byte at a shared-window address, after checking [address, address + bytes) lies within
// the launch's dynamic shared memory and is aligned to `align`.
unsigned char* shared_bytes(uint32_t address, size_t bytes, size_t align, const char* what);

// cp.async: the copy is queued on the issuing thread and lands when a wait retires its group
// (or when the thread exits), or at once where the request says `cp_async issue` (launch.h).
void cp_async_16(uint32_t dst, const void* src, int src_bytes);
void cp_async_commit();
void cp_async_wait(int newest_groups_left);

// Called by a module's registration file for its `extern __shared__` array.
void register_dynamic_shared(unsigned char* base);

}  // namespace attune_emu

// Defines the thread_local array that `extern __shared__ TYPE NAME[]` in namespace NS refers to.
#define ATTUNE_EMU_DYNAMIC_SHARED(NS, TYPE, NAME)                                                 \
    namespace NS {                                                                                \
    thread_local __attribute__((aligned(128))) TYPE NAME[attune_emu::kDynamicSharedCapacity / sizeof(TYPE)]; \
    }                                                                                             \
    static const bool attune_emu_dynamic_shared_registered = [] {                                 \
        attune_emu::register_dynamic_shared(reinterpret_cast<unsigned char*>(NS::NAME));         \
        return true;                                                                              \
    }();

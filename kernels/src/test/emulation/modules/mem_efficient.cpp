// Emulator build of mem_efficient.cu: the source as is (prelude force-included), its dynamic shared
// memory (defined before the source, whose extern __shared__ declaration then refers to it),
// and every entry point; KernelEmulationModulesTest holds this list to the manifest.

#include <attune_emulation/registry.h>

ATTUNE_EMU_DYNAMIC_SHARED(attune::mem_efficient, float, smem)

#include "mem_efficient.cu"

ATTUNE_EMU_KERNEL(mem_efficient_fwd_f32)
ATTUNE_EMU_KERNEL(mem_efficient_fwd_f16)
ATTUNE_EMU_KERNEL(mem_efficient_fwd_bf16)

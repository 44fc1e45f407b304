// Emulator build of gemm_sm75.cu: the source as is (prelude force-included), its dynamic shared
// memory (defined before the source, whose extern __shared__ declaration then refers to it),
// and every entry point; KernelEmulationModulesTest holds this list to the manifest.

#include <attune_emulation/registry.h>

ATTUNE_EMU_DYNAMIC_SHARED(attune::gemm_sm75, unsigned char, smem)

#include "gemm_sm75.cu"

ATTUNE_EMU_KERNEL(gemm_sm75_f16)

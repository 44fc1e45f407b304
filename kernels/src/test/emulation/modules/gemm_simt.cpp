// Emulator build of gemm_simt.cu: the source as is (prelude force-included), its dynamic shared
// memory (defined before the source, whose extern __shared__ declaration then refers to it),
// and every entry point; KernelEmulationModulesTest holds this list to the manifest.

#include <attune_emulation/registry.h>

ATTUNE_EMU_DYNAMIC_SHARED(attune::gemm_simt, float, smem_f)

#include "gemm_simt.cu"

ATTUNE_EMU_KERNEL(gemm_simt_f32)
ATTUNE_EMU_KERNEL(gemm_simt_f16)
ATTUNE_EMU_KERNEL(gemm_simt_bf16)

// Emulator build of math_attention.cu: the source as is (prelude force-included), its dynamic shared
// memory (defined before the source, whose extern __shared__ declaration then refers to it),
// and every entry point; KernelEmulationModulesTest holds this list to the manifest.

#include <attune_emulation/registry.h>

#include "math_attention.cu"

ATTUNE_EMU_KERNEL(math_scores_f32)
ATTUNE_EMU_KERNEL(math_scores_f16)
ATTUNE_EMU_KERNEL(math_scores_bf16)
ATTUNE_EMU_KERNEL(math_softmax)
ATTUNE_EMU_KERNEL(math_pv_f32)
ATTUNE_EMU_KERNEL(math_pv_f16)
ATTUNE_EMU_KERNEL(math_pv_bf16)

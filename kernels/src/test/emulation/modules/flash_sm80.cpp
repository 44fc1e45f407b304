// Emulator build of flash_sm80.cu: the source as is (prelude force-included), its dynamic shared
// memory (defined before the source, whose extern __shared__ declaration then refers to it),
// and every entry point; KernelEmulationModulesTest holds this list to the manifest.

#include <attune_emulation/registry.h>

ATTUNE_EMU_DYNAMIC_SHARED(attune::flash_sm80, unsigned char, smem)

#include "flash_sm80.cu"

ATTUNE_EMU_KERNEL(flash_sm80_fwd_f16_d32)
ATTUNE_EMU_KERNEL(flash_sm80_fwd_bf16_d32)
ATTUNE_EMU_KERNEL(flash_sm80_fwd_f16_d64)
ATTUNE_EMU_KERNEL(flash_sm80_fwd_bf16_d64)
ATTUNE_EMU_KERNEL(flash_sm80_fwd_f16_d96)
ATTUNE_EMU_KERNEL(flash_sm80_fwd_bf16_d96)
ATTUNE_EMU_KERNEL(flash_sm80_fwd_f16_d128)
ATTUNE_EMU_KERNEL(flash_sm80_fwd_bf16_d128)
ATTUNE_EMU_KERNEL(flash_sm80_fwd_f16_d160)
ATTUNE_EMU_KERNEL(flash_sm80_fwd_bf16_d160)
ATTUNE_EMU_KERNEL(flash_sm80_fwd_f16_d192)
ATTUNE_EMU_KERNEL(flash_sm80_fwd_bf16_d192)
ATTUNE_EMU_KERNEL(flash_sm80_fwd_f16_d224)
ATTUNE_EMU_KERNEL(flash_sm80_fwd_bf16_d224)
ATTUNE_EMU_KERNEL(flash_sm80_fwd_f16_d256)
ATTUNE_EMU_KERNEL(flash_sm80_fwd_bf16_d256)

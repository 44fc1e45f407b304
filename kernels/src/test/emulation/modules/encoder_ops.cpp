// Emulator build of encoder_ops.cu: the source as is (prelude force-included), its dynamic shared
// memory (defined before the source, whose extern __shared__ declaration then refers to it),
// and every entry point; KernelEmulationModulesTest holds this list to the manifest.

#include <attune_emulation/registry.h>

#include "encoder_ops.cu"

ATTUNE_EMU_KERNEL(embed_f32)
ATTUNE_EMU_KERNEL(gather_rows_f32)
ATTUNE_EMU_KERNEL(add_layernorm_f32)
ATTUNE_EMU_KERNEL(pool_mean_f32)
ATTUNE_EMU_KERNEL(pool_cls_f32)
ATTUNE_EMU_KERNEL(gelu_f32)
ATTUNE_EMU_KERNEL(residual_add_f32)
ATTUNE_EMU_KERNEL(count_nonfinite_f32)
ATTUNE_EMU_KERNEL(to_f32_f32)
ATTUNE_EMU_KERNEL(from_f32_f32)
ATTUNE_EMU_KERNEL(embed_f16)
ATTUNE_EMU_KERNEL(gather_rows_f16)
ATTUNE_EMU_KERNEL(add_layernorm_f16)
ATTUNE_EMU_KERNEL(pool_mean_f16)
ATTUNE_EMU_KERNEL(pool_cls_f16)
ATTUNE_EMU_KERNEL(gelu_f16)
ATTUNE_EMU_KERNEL(residual_add_f16)
ATTUNE_EMU_KERNEL(count_nonfinite_f16)
ATTUNE_EMU_KERNEL(to_f32_f16)
ATTUNE_EMU_KERNEL(from_f32_f16)
ATTUNE_EMU_KERNEL(embed_bf16)
ATTUNE_EMU_KERNEL(gather_rows_bf16)
ATTUNE_EMU_KERNEL(add_layernorm_bf16)
ATTUNE_EMU_KERNEL(pool_mean_bf16)
ATTUNE_EMU_KERNEL(pool_cls_bf16)
ATTUNE_EMU_KERNEL(gelu_bf16)
ATTUNE_EMU_KERNEL(residual_add_bf16)
ATTUNE_EMU_KERNEL(count_nonfinite_bf16)
ATTUNE_EMU_KERNEL(to_f32_bf16)
ATTUNE_EMU_KERNEL(from_f32_bf16)
ATTUNE_EMU_KERNEL(l2_normalize_f32)

// Activation functions shared by the fused GEMM epilogues and the stand-alone encoder kernels:
// one definition, so a GELU fused into a GEMM and one run on its own give the same bits.
#pragma once

namespace attune {

// GELU with the exact erf form (PyTorch's default, approximate="none"), in fp32.
__device__ __forceinline__ float gelu_erf(float x) {
    return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
}

}  // namespace attune

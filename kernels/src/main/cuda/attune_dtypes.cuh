// Element types the kernels store activations and weights in, and their conversions to and from
// fp32. Every kernel accumulates in fp32; these helpers are the only place that knows how an
// element is encoded, so the same kernel body serves fp32, fp16 and bf16.
//
// bf16 is converted with bit operations rather than the sm80 cvt instructions, so SIMT modules
// built from this header still assemble for sm_60 and sm_70 (checked by the PTX assembly test).
#pragma once

#include <cuda_fp16.h>
#include <cuda_bf16.h>

namespace attune {

template <typename T> struct Elem;

template <> struct Elem<float> {
    static __device__ __forceinline__ float to_float(float x) { return x; }
    static __device__ __forceinline__ float from_float(float x) { return x; }
};

template <> struct Elem<__half> {
    static __device__ __forceinline__ float to_float(__half x) { return __half2float(x); }
    static __device__ __forceinline__ __half from_float(float x) { return __float2half_rn(x); }
};

template <> struct Elem<__nv_bfloat16> {
    static __device__ __forceinline__ float to_float(__nv_bfloat16 x) {
        unsigned int bits = static_cast<unsigned int>(__bfloat16_as_ushort(x)) << 16;
        return __uint_as_float(bits);
    }
    // Round to nearest even; NaN stays NaN (a quiet NaN with the sign kept).
    static __device__ __forceinline__ __nv_bfloat16 from_float(float x) {
        unsigned int bits = __float_as_uint(x);
        if ((bits & 0x7fffffffu) > 0x7f800000u) {
            return __ushort_as_bfloat16(static_cast<unsigned short>((bits >> 16) | 0x0040u));
        }
        bits += 0x7fffu + ((bits >> 16) & 1u);
        return __ushort_as_bfloat16(static_cast<unsigned short>(bits >> 16));
    }
};

template <typename T> __device__ __forceinline__ float to_float(T x) { return Elem<T>::to_float(x); }
template <typename T> __device__ __forceinline__ T from_float(float x) { return Elem<T>::from_float(x); }

}  // namespace attune

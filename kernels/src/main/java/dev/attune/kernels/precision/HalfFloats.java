package dev.attune.kernels.precision;

/**
 * Conversions between fp32 and the two 16-bit float formats, IEEE binary16 (fp16) and bfloat16,
 * with round-to-nearest-even, as the GPU's conversion instructions do. JDK 17 has neither.
 */
public final class HalfFloats {

    private HalfFloats() {}

    /** binary16 bits to fp32 (exact). */
    public static float fp16ToFloat(short bits) {
        int h = bits & 0xffff;
        int sign = (h & 0x8000) << 16;
        int exp = (h >>> 10) & 0x1f;
        int mant = h & 0x3ff;
        if (exp == 0x1f) {
            return Float.intBitsToFloat(sign | 0x7f800000 | (mant << 13));
        }
        if (exp == 0) {
            if (mant == 0) {
                return Float.intBitsToFloat(sign);
            }
            // Subnormal: value = mant * 2^-24.
            float v = mant * 5.9604645e-8f;
            return sign == 0 ? v : -v;
        }
        return Float.intBitsToFloat(sign | ((exp + 112) << 23) | (mant << 13));
    }

    /** fp32 to binary16 bits, round to nearest even; overflow gives infinity. */
    public static short floatToFp16(float f) {
        int x = Float.floatToRawIntBits(f);
        int sign = (x >>> 16) & 0x8000;
        int exp = (x >>> 23) & 0xff;
        int mant = x & 0x7fffff;
        if (exp == 0xff) {
            return (short) (sign | 0x7c00 | (mant != 0 ? 0x200 : 0));
        }
        int e = exp - 127 + 15;
        if (e >= 0x1f) {
            return (short) (sign | 0x7c00);
        }
        if (e <= 0) {
            if (e < -10) {
                return (short) sign;
            }
            // Subnormal half: shift the implicit-one mantissa into place, rounding to nearest even.
            int m = mant | 0x800000;
            int shift = 14 - e;
            int half = m >>> shift;
            int rem = m & ((1 << shift) - 1);
            int mid = 1 << (shift - 1);
            if (rem > mid || (rem == mid && (half & 1) != 0)) {
                half++;
            }
            return (short) (sign | half);
        }
        int half = (e << 10) | (mant >>> 13);
        int rem = mant & 0x1fff;
        if (rem > 0x1000 || (rem == 0x1000 && (half & 1) != 0)) {
            half++; // may carry into the exponent, which is the correct rounding (up to infinity)
        }
        return (short) (sign | half);
    }

    /** bfloat16 bits to fp32 (exact). */
    public static float bf16ToFloat(short bits) {
        return Float.intBitsToFloat((bits & 0xffff) << 16);
    }

    /** fp32 to bfloat16 bits, round to nearest even; NaN stays NaN. */
    public static short floatToBf16(float f) {
        int x = Float.floatToRawIntBits(f);
        if ((x & 0x7fffffff) > 0x7f800000) {
            return (short) ((x >>> 16) | 0x40);
        }
        int rounding = 0x7fff + ((x >>> 16) & 1);
        return (short) ((x + rounding) >>> 16);
    }

    /** The fp32 value nearest to {@code f} that fp16 can hold. */
    public static float roundToFp16(float f) {
        return fp16ToFloat(floatToFp16(f));
    }

    /** The fp32 value nearest to {@code f} that bf16 can hold. */
    public static float roundToBf16(float f) {
        return bf16ToFloat(floatToBf16(f));
    }

    /** Largest finite fp16 value. */
    public static final float FP16_MAX = 65504f;
}

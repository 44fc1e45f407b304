package dev.attune.kernels.precision;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * fp16 and bf16 conversions: every fp16 bit pattern decodes to its exact value and survives a
 * round trip; fp32 to fp16 and fp32 to bf16 round to nearest, ties to even, as an independent
 * reference (nearest representable value found by search, distances in exact double arithmetic)
 * does, on every fp16 midpoint and its neighbours and on random floats; overflow, subnormals,
 * signed zeros, infinities and NaN behave as IEEE 754 says.
 */
class HalfFloatsTest {

    // ---------------------------------------------------------------- reference implementations

    /** The exact value of a binary16 pattern, computed from the format's definition. */
    private static double fp16Value(int bits) {
        int sign = (bits >>> 15) & 1;
        int exp = (bits >>> 10) & 0x1f;
        int mant = bits & 0x3ff;
        double mag;
        if (exp == 0x1f) {
            mag = mant == 0 ? Double.POSITIVE_INFINITY : Double.NaN;
        } else if (exp == 0) {
            mag = Math.scalb((double) mant, -24);
        } else {
            mag = Math.scalb(1.0 + mant / 1024.0, exp - 15);
        }
        return sign == 1 ? -mag : mag;
    }

    /**
     * Round-to-nearest-even of a finite float to a 16-bit format whose non-negative finite
     * patterns are {@code 0..maxFinite} in increasing order and whose pattern {@code maxFinite + 1}
     * is +infinity. For rounding, infinity counts as the next value after the largest finite one
     * ({@code overflowValue}, 2^16 for fp16 and 2^128 for bf16), which is what IEEE 754 prescribes.
     */
    private static int referenceRound(
            float f, int maxFinite, double overflowValue, java.util.function.IntToDoubleFunction value, int signBit) {
        double a = Math.abs((double) f);
        int sign = (Float.floatToRawIntBits(f) < 0) ? signBit : 0;
        // Largest pattern lo with value(lo) <= a (binary search over the monotone patterns).
        int lo = 0;
        int hi = maxFinite;
        while (lo < hi) {
            int mid = (lo + hi + 1) >>> 1;
            if (value.applyAsDouble(mid) <= a) {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        double vLo = value.applyAsDouble(lo);
        if (vLo == a) {
            return sign | lo;
        }
        double vHi = lo == maxFinite ? overflowValue : value.applyAsDouble(lo + 1);
        double dLo = a - vLo; // exact: both are floats close together, well within double's precision
        double dHi = vHi - a;
        int pick;
        if (dLo < dHi) {
            pick = lo;
        } else if (dHi < dLo) {
            pick = lo + 1;
        } else {
            pick = (lo & 1) == 0 ? lo : lo + 1;
        }
        return sign | pick;
    }

    private static int referenceFp16(float f) {
        if (Float.isNaN(f)) {
            throw new IllegalArgumentException("NaN has no single reference");
        }
        if (Float.isInfinite(f)) {
            return f > 0 ? 0x7c00 : 0xfc00;
        }
        return referenceRound(f, 0x7bff, 65536.0, HalfFloatsTest::fp16Value, 0x8000);
    }

    private static double bf16Value(int bits) {
        return Float.intBitsToFloat((bits & 0xffff) << 16);
    }

    private static int referenceBf16(float f) {
        if (Float.isInfinite(f)) {
            return f > 0 ? 0x7f80 : 0xff80;
        }
        return referenceRound(f, 0x7f7f, Math.scalb(1.0, 128), HalfFloatsTest::bf16Value, 0x8000);
    }

    private static int fp16(float f) {
        return HalfFloats.floatToFp16(f) & 0xffff;
    }

    private static int bf16(float f) {
        return HalfFloats.floatToBf16(f) & 0xffff;
    }

    private static void assertFp16(int expected, float f) {
        int got = fp16(f);
        if (got != expected) {
            fail(String.format(
                    "floatToFp16(%s [0x%08x]) = 0x%04x, expected 0x%04x",
                    f, Float.floatToRawIntBits(f), got, expected));
        }
    }

    private static void assertBf16(int expected, float f) {
        int got = bf16(f);
        if (got != expected) {
            fail(String.format(
                    "floatToBf16(%s [0x%08x]) = 0x%04x, expected 0x%04x",
                    f, Float.floatToRawIntBits(f), got, expected));
        }
    }

    // ---------------------------------------------------------------------------------- fp16

    @Test
    void everyFp16PatternDecodesExactlyAndRoundTrips() {
        for (int b = 0; b < 0x10000; b++) {
            int bits = b;
            float f = HalfFloats.fp16ToFloat((short) bits);
            double expected = fp16Value(bits);
            boolean nan = ((bits >>> 10) & 0x1f) == 0x1f && (bits & 0x3ff) != 0;
            if (nan) {
                assertTrue(Float.isNaN(f), () -> String.format("0x%04x should decode to NaN", bits));
                int back = fp16(f);
                assertTrue(
                        (back & 0x7c00) == 0x7c00 && (back & 0x3ff) != 0,
                        () -> String.format("NaN 0x%04x came back as non-NaN 0x%04x", bits, back));
                assertEquals(bits & 0x8000, back & 0x8000, "NaN sign");
                continue;
            }
            if ((double) f != expected || (Float.floatToRawIntBits(f) < 0) != ((bits & 0x8000) != 0)) {
                fail(String.format("fp16ToFloat(0x%04x) = %s, expected %s", bits, f, expected));
            }
            int back = fp16(f);
            if (back != bits) {
                fail(String.format("0x%04x -> %s -> 0x%04x", bits, f, back));
            }
        }
    }

    @Test
    void midpointsBetweenConsecutiveFp16ValuesRoundToEven() {
        // For every pair of adjacent non-negative fp16 values (including max -> "65536"), the exact
        // midpoint (a float: it needs 12 significant bits) and its two float neighbours, both signs.
        for (int bits = 0; bits <= 0x7bff; bits++) {
            double lo = fp16Value(bits);
            double hi = bits == 0x7bff ? 65536.0 : fp16Value(bits + 1);
            float mid = (float) ((lo + hi) / 2);
            assertEquals((lo + hi) / 2, mid, 0.0, "midpoint must be exact in fp32");
            for (float f : new float[] {mid, Math.nextDown(mid), Math.nextUp(mid)}) {
                assertFp16(referenceFp16(f), f);
                assertFp16(referenceFp16(-f), -f);
            }
        }
    }

    @Test
    void fp16RoundingSpotChecks() {
        assertFp16(0x3c00, 1f);
        assertFp16(0x3c00, 1f + 0x1p-11f); // tie between 1 and 1+2^-10: even is 1
        assertFp16(0x3c02, 1f + 3 * 0x1p-11f); // tie between 1+2^-10 and 1+2^-9: even is up
        assertFp16(0x3c01, Math.nextUp(1f + 0x1p-11f)); // just above the tie rounds up
        assertFp16(0x3c00, Math.nextDown(1f + 0x1p-11f));
        assertFp16(0x3c00, Math.nextDown(1f)); // 1 - 2^-24 is nearer 1 than 1 - 2^-11
        assertFp16(0x3bff, 1f - 0x1p-11f - 0x1p-13f);
        assertEquals(1f, HalfFloats.roundToFp16(Math.nextDown(1f)));
        assertEquals(0.99951171875f, HalfFloats.roundToFp16(0.99951171875f)); // 1 - 2^-11 exact
        // Overflow: 65520 is the tie between 65504 and 2^16, and rounds to even, i.e. infinity.
        assertFp16(0x7bff, 65504f);
        assertFp16(0x7bff, 65519f);
        assertFp16(0x7bff, Math.nextDown(65520f));
        assertFp16(0x7c00, 65520f);
        assertFp16(0xfc00, -65520f);
        assertFp16(0x7c00, 1e10f);
        assertFp16(0x7c00, Float.MAX_VALUE);
        assertFp16(0x7c00, Float.POSITIVE_INFINITY);
        assertFp16(0xfc00, Float.NEGATIVE_INFINITY);
        assertEquals(HalfFloats.FP16_MAX, HalfFloats.fp16ToFloat((short) 0x7bff));
        assertEquals(Float.POSITIVE_INFINITY, HalfFloats.roundToFp16(70000f));
        // Subnormals: 2^-24 is the smallest; 2^-25 is a tie with 0 and goes to 0 (even);
        // 3 * 2^-26 is above the tie and goes to 2^-24; 3 * 2^-25 is a tie between 1 and 2 ulps -> 2.
        assertFp16(0x0001, 0x1p-24f);
        assertFp16(0x0000, 0x1p-25f);
        assertFp16(0x8000, -0x1p-25f);
        assertFp16(0x0001, Math.nextUp(0x1p-25f));
        assertFp16(0x0001, 3 * 0x1p-26f);
        assertFp16(0x0002, 3 * 0x1p-25f);
        assertFp16(0x0000, 0x1p-30f);
        assertFp16(0x0000, Float.MIN_VALUE);
        assertFp16(0x8000, -Float.MIN_VALUE);
        assertFp16(0x03ff, 0x3ffp-24f); // largest subnormal
        assertFp16(0x0400, 0x1p-14f); // smallest normal
        assertFp16(0x0400, 0x7ffp-25f); // tie between 0x3ff and 0x400: even is 0x400
        assertFp16(0x0000, 0f);
        assertFp16(0x8000, -0f);
        assertEquals(0x1p-24f, HalfFloats.roundToFp16(0x1.4p-24f));
        assertEquals(0f, HalfFloats.roundToFp16(0x1p-26f));
    }

    @Test
    void fp16NanStaysNan() {
        for (int bits : new int[] {0x7fc00000, 0x7f800001, 0xffc00000, 0xff800001, 0x7fffffff, 0x7fa00000}) {
            float nan = Float.intBitsToFloat(bits);
            int h = fp16(nan);
            assertEquals(0x7c00, h & 0x7c00, "exponent all ones");
            assertTrue((h & 0x3ff) != 0, () -> String.format("0x%08x -> 0x%04x lost NaN", bits, h));
            assertEquals((bits >>> 16) & 0x8000, h & 0x8000, "sign kept");
            assertTrue(Float.isNaN(HalfFloats.roundToFp16(nan)));
        }
    }

    @Test
    void randomFloatsRoundToNearestEvenFp16() {
        Random rnd = new Random(16);
        for (int i = 0; i < 400_000; i++) {
            float f;
            switch (i % 4) {
                case 0 -> f = Float.intBitsToFloat(rnd.nextInt()); // anything at all
                case 1 -> f = (float) (rnd.nextGaussian() * 1000);
                case 2 -> f = (float) (rnd.nextGaussian() * 1e-5); // subnormal fp16 range
                default ->
                    f = Float.intBitsToFloat((rnd.nextInt(0x47800000 - 0x33000000) + 0x33000000)
                            | (rnd.nextBoolean() ? 0x80000000 : 0)); // |f| in [2^-25, 2^16)
            }
            if (Float.isNaN(f)) {
                continue;
            }
            assertFp16(referenceFp16(f), f);
            float r = HalfFloats.roundToFp16(f);
            assertEquals(fp16Value(referenceFp16(f)), (double) r, 0.0);
        }
    }

    // ---------------------------------------------------------------------------------- bf16

    @Test
    void randomFloatsRoundToNearestEvenBf16() {
        Random rnd = new Random(32);
        for (int i = 0; i < 400_000; i++) {
            float f;
            switch (i % 3) {
                case 0 -> f = Float.intBitsToFloat(rnd.nextInt());
                case 1 -> f = (float) rnd.nextGaussian();
                default -> {
                    // Exact ties and their neighbours: low 16 bits 0x8000, 0x7fff or 0x8001.
                    int hiBits = rnd.nextInt(0x10000);
                    int low = new int[] {0x8000, 0x7fff, 0x8001}[rnd.nextInt(3)];
                    f = Float.intBitsToFloat((hiBits << 16) | low);
                }
            }
            if (Float.isNaN(f)) {
                continue;
            }
            assertBf16(referenceBf16(f), f);
            assertEquals(bf16Value(referenceBf16(f)), (double) HalfFloats.roundToBf16(f), 0.0);
        }
    }

    @Test
    void bf16SpotChecks() {
        assertBf16(0x3f80, 1f);
        assertBf16(0x3f80, Float.intBitsToFloat(0x3f808000)); // tie, 0x3f80 even: down
        assertBf16(0x3f82, Float.intBitsToFloat(0x3f818000)); // tie, 0x3f81 odd: up
        assertBf16(0x3f81, Float.intBitsToFloat(0x3f808001));
        assertBf16(0xbf80, Float.intBitsToFloat(0xbf808000));
        assertBf16(0xbf82, Float.intBitsToFloat(0xbf818000));
        assertBf16(0x7f7f, Float.intBitsToFloat(0x7f7f7fff));
        assertBf16(0x7f80, Float.MAX_VALUE); // above max + half ulp: infinity
        assertBf16(0xff80, -Float.MAX_VALUE);
        assertBf16(0x7f80, Float.POSITIVE_INFINITY);
        assertBf16(0xff80, Float.NEGATIVE_INFINITY);
        assertBf16(0x0000, 0f);
        assertBf16(0x8000, -0f);
        assertBf16(0x0000, Float.MIN_VALUE); // 2^-149 rounds to 0
        assertBf16(0x0002, Float.intBitsToFloat(0x00018000)); // subnormal tie between 1 and 2: even is 2
        assertBf16(0x0000, Float.intBitsToFloat(0x00008000)); // subnormal tie between 0 and 1: even is 0
        assertEquals(1f, HalfFloats.bf16ToFloat((short) 0x3f80));
        assertEquals(-2f, HalfFloats.bf16ToFloat((short) 0xc000));
    }

    @Test
    void bf16NanStaysNanAndDecodingIsExact() {
        for (int bits : new int[] {0x7fc00000, 0x7f800001, 0xff800001, 0x7fffffff, 0xffc00001, 0x7f80ffff}) {
            float nan = Float.intBitsToFloat(bits);
            int b = bf16(nan);
            assertEquals(0x7f80, b & 0x7f80, "exponent all ones");
            assertTrue((b & 0x7f) != 0, () -> String.format("0x%08x -> 0x%04x lost NaN", bits, b));
            assertEquals((bits >>> 16) & 0x8000, b & 0x8000, "sign kept");
            assertTrue(Float.isNaN(HalfFloats.roundToBf16(nan)));
        }
        for (int bits = 0; bits < 0x10000; bits++) {
            float f = HalfFloats.bf16ToFloat((short) bits);
            assertEquals(bits << 16, Float.floatToRawIntBits(f));
            if (!Float.isNaN(f)) {
                assertEquals(bits, bf16(f));
            } else {
                assertTrue(Float.isNaN(HalfFloats.bf16ToFloat(HalfFloats.floatToBf16(f))));
            }
        }
    }
}

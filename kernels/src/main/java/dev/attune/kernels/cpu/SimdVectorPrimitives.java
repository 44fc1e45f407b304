package dev.attune.kernels.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/**
 * {@link VectorPrimitives} on the JDK Vector API at the platform's preferred width.
 *
 * <p>Reproducibility: every result is a fixed sequence of IEEE operations (add, multiply, fused
 * multiply-add, integer bit operations), so it is the same bit for bit whether HotSpot runs the
 * Vector API's Java fallback (before C2 compiles the caller) or its intrinsics. That rules out two
 * Vector API operations whose two implementations differ: {@code reduceLanes(ADD)} on floats (the
 * intrinsic sums in a tree, the fallback in lane order) and {@code lanewise(EXP)} (SVML against
 * {@code Math.exp} per lane); lanes are summed by a fixed tree of lane permutations and adds
 * ({@link #sumLanes}) and exp is {@link #exp}, a polynomial of basic operations.
 */
final class SimdVectorPrimitives implements VectorPrimitives {

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int L = S.length();

    // exp(x) = 2^n · exp(r), n = round(x / ln 2), r = x - n · ln 2 in two parts (Cody and Waite).
    private static final float LOG2E = 1.44269504088896341f;
    private static final float LN2_HI = 0.693145751953125f;
    private static final float LN2_LO = 1.42860682030941723212e-6f;
    /** 1.5 · 2^23: adding it rounds a float of magnitude below 2^22 to an integer, held in the low mantissa bits. */
    private static final float ROUND = 12582912f;

    private static final int ROUND_BITS = Float.floatToRawIntBits(ROUND);
    /** Below this exp underflows past the smallest normal float: the result is 0. */
    private static final float EXP_MIN = -87.33654f;
    /** Above this exp overflows: clamped here, the result is about 1.7e38 (callers shift by the maximum first). */
    private static final float EXP_MAX = 88.37626f;
    // The constants as vectors, made once: fewer operations in exp's callers' compiled code.
    private static final FloatVector V_EXP_MIN = FloatVector.broadcast(S, EXP_MIN);
    private static final FloatVector V_EXP_MAX = FloatVector.broadcast(S, EXP_MAX);
    private static final FloatVector V_NEG_EXP_MAX = FloatVector.broadcast(S, -EXP_MAX);
    private static final FloatVector V_LOG2E = FloatVector.broadcast(S, LOG2E);
    private static final FloatVector V_ROUND = FloatVector.broadcast(S, ROUND);
    private static final FloatVector V_NEG_LN2_HI = FloatVector.broadcast(S, -LN2_HI);
    private static final FloatVector V_NEG_LN2_LO = FloatVector.broadcast(S, -LN2_LO);
    private static final FloatVector V_C7 = FloatVector.broadcast(S, 1f / 5040f);
    private static final FloatVector V_C6 = FloatVector.broadcast(S, 1f / 720f);
    private static final FloatVector V_C5 = FloatVector.broadcast(S, 1f / 120f);
    private static final FloatVector V_C4 = FloatVector.broadcast(S, 1f / 24f);
    private static final FloatVector V_C3 = FloatVector.broadcast(S, 1f / 6f);
    private static final FloatVector V_C2 = FloatVector.broadcast(S, 0.5f);
    private static final FloatVector V_ONE = FloatVector.broadcast(S, 1f);
    private static final FloatVector V_ZERO = FloatVector.zero(S);
    // Lane i with lane i ^ h: the steps of the lane-sum tree (only those below L are used).
    private static final VectorShuffle<Float> SWAP_8 = VectorShuffle.fromOp(S, i -> (i ^ 8) % L);
    private static final VectorShuffle<Float> SWAP_4 = VectorShuffle.fromOp(S, i -> (i ^ 4) % L);
    private static final VectorShuffle<Float> SWAP_2 = VectorShuffle.fromOp(S, i -> (i ^ 2) % L);
    private static final VectorShuffle<Float> SWAP_1 = VectorShuffle.fromOp(S, i -> (i ^ 1) % L);
    private static final IntVector V_ROUND_BITS_MINUS_BIAS =
            IntVector.broadcast(IntVector.SPECIES_PREFERRED, ROUND_BITS - 127);

    /**
     * e^x per lane, within 2 ulp of the exact value for x in [-87.3, 88.3], 0 below, NaN for NaN;
     * the same bits as {@link #expScalar} of each lane.
     */
    static FloatVector exp(FloatVector x) {
        FloatVector c = x.max(V_EXP_MIN).min(V_EXP_MAX);
        FloatVector t = c.fma(V_LOG2E, V_ROUND);
        FloatVector n = t.sub(V_ROUND);
        FloatVector r = n.fma(V_NEG_LN2_HI, c);
        r = n.fma(V_NEG_LN2_LO, r);
        // exp(r) on |r| <= ln2/2: Taylor to degree 7 (the first term left out is below 2e-8 relative).
        FloatVector p = V_C7.fma(r, V_C6)
                .fma(r, V_C5)
                .fma(r, V_C4)
                .fma(r, V_C3)
                .fma(r, V_C2)
                .fma(r, V_ONE)
                .fma(r, V_ONE);
        IntVector k = t.reinterpretAsInts().sub(V_ROUND_BITS_MINUS_BIAS); // n + 127 as an integer
        FloatVector scale = k.lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats();
        return p.mul(scale).blend(V_ZERO, x.lt(V_EXP_MIN));
    }

    /** {@link #exp} of one value, operation for operation. */
    static float expScalar(float x) {
        if (Float.isNaN(x)) {
            return x;
        }
        float c = Math.min(Math.max(x, EXP_MIN), EXP_MAX);
        float t = Math.fma(c, LOG2E, ROUND);
        float n = t - ROUND;
        float r = Math.fma(n, -LN2_HI, c);
        r = Math.fma(n, -LN2_LO, r);
        float p = 1f / 5040f;
        p = Math.fma(p, r, 1f / 720f);
        p = Math.fma(p, r, 1f / 120f);
        p = Math.fma(p, r, 1f / 24f);
        p = Math.fma(p, r, 1f / 6f);
        p = Math.fma(p, r, 0.5f);
        p = Math.fma(p, r, 1f);
        p = Math.fma(p, r, 1f);
        int k = Float.floatToRawIntBits(t) - (ROUND_BITS - 127);
        float e = p * Float.intBitsToFloat(k << 23);
        return x < EXP_MIN ? 0f : e;
    }

    /**
     * The lanes of {@code v} summed pairwise: lane i with lane i ^ L/2, then i ^ L/4, ... (log2 L
     * permutations and adds, against L lane extractions in order). Every lane ends with the same
     * total, computed by the same adds on either implementation of the Vector API.
     */
    static float sumLanes(FloatVector v) {
        if (L > 16) {
            float s = 0f;
            for (int i = 0; i < L; i++) {
                s += v.lane(i);
            }
            return s;
        }
        if (L == 16) {
            v = v.add(v.rearrange(SWAP_8));
        }
        if (L >= 8) {
            v = v.add(v.rearrange(SWAP_4));
        }
        if (L >= 4) {
            v = v.add(v.rearrange(SWAP_2));
        }
        if (L >= 2) {
            v = v.add(v.rearrange(SWAP_1));
        }
        return v.lane(0);
    }

    @Override
    public float dot(float[] a, int ao, float[] b, int bo, int len) {
        int i = 0;
        FloatVector acc = FloatVector.zero(S);
        for (; i + L <= len; i += L) {
            acc = FloatVector.fromArray(S, a, ao + i).fma(FloatVector.fromArray(S, b, bo + i), acc);
        }
        float s = sumLanes(acc);
        for (; i < len; i++) {
            s = Math.fma(a[ao + i], b[bo + i], s);
        }
        return s;
    }

    @Override
    public void axpy(float alpha, float[] x, int xo, float[] y, int yo, int len) {
        int i = 0;
        FloatVector va = FloatVector.broadcast(S, alpha);
        for (; i + L <= len; i += L) {
            FloatVector.fromArray(S, x, xo + i)
                    .fma(va, FloatVector.fromArray(S, y, yo + i))
                    .intoArray(y, yo + i);
        }
        for (; i < len; i++) {
            y[yo + i] = Math.fma(alpha, x[xo + i], y[yo + i]);
        }
    }

    @Override
    public void scale(float alpha, float[] y, int yo, int len) {
        int i = 0;
        for (; i + L <= len; i += L) {
            FloatVector.fromArray(S, y, yo + i).mul(alpha).intoArray(y, yo + i);
        }
        for (; i < len; i++) {
            y[yo + i] *= alpha;
        }
    }

    @Override
    public float expShiftSum(float[] y, int yo, int len, float shift) {
        int i = 0;
        FloatVector acc = FloatVector.zero(S);
        for (; i + L <= len; i += L) {
            FloatVector e = exp(FloatVector.fromArray(S, y, yo + i).sub(shift));
            e.intoArray(y, yo + i);
            acc = acc.add(e);
        }
        float sum = sumLanes(acc);
        for (; i < len; i++) {
            float e = expScalar(y[yo + i] - shift);
            y[yo + i] = e;
            sum += e;
        }
        return sum;
    }

    /**
     * erf through the same erfcc polynomial as the portable path, in fp32 lanes; the
     * polynomial's argument is bounded, so fp32 keeps the result within about 2e-7 of the
     * double evaluation.
     */
    @Override
    public void geluErf(float[] x, int from, int to) {
        int i = from;
        for (; i + L <= to; i += L) {
            FloatVector v = FloatVector.fromArray(S, x, i);
            FloatVector z = v.mul(0.70710677f).abs();
            FloatVector t = FloatVector.broadcast(S, 1f).div(z.mul(0.5f).add(1f));
            FloatVector poly = t.mul(0.17087277f).add(-0.82215223f);
            poly = poly.mul(t).add(1.48851587f);
            poly = poly.mul(t).add(-1.13520398f);
            poly = poly.mul(t).add(0.27886807f);
            poly = poly.mul(t).add(-0.18628806f);
            poly = poly.mul(t).add(0.09678418f);
            poly = poly.mul(t).add(0.37409196f);
            poly = poly.mul(t).add(1.00002368f);
            poly = poly.mul(t).add(-1.26551223f);
            FloatVector erfc = t.mul(exp(z.mul(z).neg().add(poly)));
            // erf(|u|) = 1 - erfc; GELU = 0.5 v (1 + sign(v) erf(|u|))
            FloatVector erfAbs = erfc.neg().add(1f);
            FloatVector erf = erfAbs.blend(erfAbs.neg(), v.lt(0f));
            v.mul(0.5f).mul(erf.add(1f)).intoArray(x, i);
        }
        for (; i < to; i++) {
            float v = x[i];
            x[i] = (float) (0.5 * v * (1.0 + VectorPrimitives.erf(v * 0.7071067811865476)));
        }
    }

    @Override
    public void siluMul(float[] gate, int go, float[] up, int uo, float[] out, int oo, int len) {
        int i = 0;
        for (; i + L <= len; i += L) {
            FloatVector z = FloatVector.fromArray(S, gate, go + i);
            FloatVector e = exp(z.neg());
            // exp clamps at EXP_MAX: below -EXP_MAX, z / (1 + e^-z) would not vanish, so it is set to 0
            z.div(e.add(V_ONE))
                    .mul(FloatVector.fromArray(S, up, uo + i))
                    .blend(V_ZERO, z.lt(V_NEG_EXP_MAX))
                    .intoArray(out, oo + i);
        }
        for (; i < len; i++) {
            float z = gate[go + i];
            out[oo + i] = z < -EXP_MAX ? 0f : z / (expScalar(-z) + 1f) * up[uo + i];
        }
    }
}

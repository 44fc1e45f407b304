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
    public void scoreBlock(
            float[] q,
            int qo,
            int qs,
            float scale,
            float[] kt,
            int ko,
            int ks,
            int d,
            float[] s,
            int so,
            int ss,
            int rows,
            int cols) {
        int i = 0;
        for (; i + 4 <= rows; i += 4) {
            scores4(q, qo + i * qs, qs, scale, kt, ko, ks, d, s, so + i * ss, ss, cols);
        }
        for (; i < rows; i++) {
            scores1(q, qo + i * qs, scale, kt, ko, ks, d, s, so + i * ss, cols);
        }
    }

    /**
     * Four query rows against {@code cols} keys: per step of c, each K vector loaded once serves the
     * four rows (register tiles of 4 × 4, then 4 × 2 and 4 × 1 vectors of keys, then scalar keys).
     * Each tile is its own small method, so that C2 inlines every vector operation of its loop
     * and keeps the vectors in registers (one method with all of them outgrows C2's inlining
     * budget, and then every vector is boxed on the heap).
     */
    private static void scores4(
            float[] q,
            int q0,
            int qs,
            float scale,
            float[] kt,
            int ko,
            int ks,
            int d,
            float[] s,
            int s0,
            int ss,
            int cols) {
        int j = scores4x4(q, q0, qs, scale, kt, ko, ks, d, s, s0, ss, cols, 0);
        j = scores4x2(q, q0, qs, scale, kt, ko, ks, d, s, s0, ss, cols, j);
        j = scores4x1(q, q0, qs, scale, kt, ko, ks, d, s, s0, ss, cols, j);
        scores4Scalar(q, q0, qs, scale, kt, ko, ks, d, s, s0, ss, cols, j);
    }

    private static int scores4x4(
            float[] q,
            int q0,
            int qs,
            float scale,
            float[] kt,
            int ko,
            int ks,
            int d,
            float[] s,
            int s0,
            int ss,
            int cols,
            int j) {
        int q1 = q0 + qs;
        int q2 = q1 + qs;
        int q3 = q2 + qs;
        for (; j + 4 * L <= cols; j += 4 * L) {
            FloatVector a00 = FloatVector.zero(S),
                    a01 = FloatVector.zero(S),
                    a02 = FloatVector.zero(S),
                    a03 = FloatVector.zero(S);
            FloatVector a10 = FloatVector.zero(S),
                    a11 = FloatVector.zero(S),
                    a12 = FloatVector.zero(S),
                    a13 = FloatVector.zero(S);
            FloatVector a20 = FloatVector.zero(S),
                    a21 = FloatVector.zero(S),
                    a22 = FloatVector.zero(S),
                    a23 = FloatVector.zero(S);
            FloatVector a30 = FloatVector.zero(S),
                    a31 = FloatVector.zero(S),
                    a32 = FloatVector.zero(S),
                    a33 = FloatVector.zero(S);
            for (int c = 0; c < d; c++) {
                int k = ko + c * ks + j;
                FloatVector k0 = FloatVector.fromArray(S, kt, k);
                FloatVector k1 = FloatVector.fromArray(S, kt, k + L);
                FloatVector k2 = FloatVector.fromArray(S, kt, k + 2 * L);
                FloatVector k3 = FloatVector.fromArray(S, kt, k + 3 * L);
                FloatVector x = FloatVector.broadcast(S, q[q0 + c] * scale);
                a00 = k0.fma(x, a00);
                a01 = k1.fma(x, a01);
                a02 = k2.fma(x, a02);
                a03 = k3.fma(x, a03);
                x = FloatVector.broadcast(S, q[q1 + c] * scale);
                a10 = k0.fma(x, a10);
                a11 = k1.fma(x, a11);
                a12 = k2.fma(x, a12);
                a13 = k3.fma(x, a13);
                x = FloatVector.broadcast(S, q[q2 + c] * scale);
                a20 = k0.fma(x, a20);
                a21 = k1.fma(x, a21);
                a22 = k2.fma(x, a22);
                a23 = k3.fma(x, a23);
                x = FloatVector.broadcast(S, q[q3 + c] * scale);
                a30 = k0.fma(x, a30);
                a31 = k1.fma(x, a31);
                a32 = k2.fma(x, a32);
                a33 = k3.fma(x, a33);
            }
            store4(s, s0 + j, a00, a01, a02, a03);
            store4(s, s0 + ss + j, a10, a11, a12, a13);
            store4(s, s0 + 2 * ss + j, a20, a21, a22, a23);
            store4(s, s0 + 3 * ss + j, a30, a31, a32, a33);
        }
        return j;
    }

    private static int scores4x2(
            float[] q,
            int q0,
            int qs,
            float scale,
            float[] kt,
            int ko,
            int ks,
            int d,
            float[] s,
            int s0,
            int ss,
            int cols,
            int j) {
        int q1 = q0 + qs;
        int q2 = q1 + qs;
        int q3 = q2 + qs;
        for (; j + 2 * L <= cols; j += 2 * L) {
            FloatVector a00 = FloatVector.zero(S),
                    a01 = FloatVector.zero(S),
                    a10 = FloatVector.zero(S),
                    a11 = FloatVector.zero(S);
            FloatVector a20 = FloatVector.zero(S),
                    a21 = FloatVector.zero(S),
                    a30 = FloatVector.zero(S),
                    a31 = FloatVector.zero(S);
            for (int c = 0; c < d; c++) {
                int k = ko + c * ks + j;
                FloatVector k0 = FloatVector.fromArray(S, kt, k);
                FloatVector k1 = FloatVector.fromArray(S, kt, k + L);
                FloatVector x = FloatVector.broadcast(S, q[q0 + c] * scale);
                a00 = k0.fma(x, a00);
                a01 = k1.fma(x, a01);
                x = FloatVector.broadcast(S, q[q1 + c] * scale);
                a10 = k0.fma(x, a10);
                a11 = k1.fma(x, a11);
                x = FloatVector.broadcast(S, q[q2 + c] * scale);
                a20 = k0.fma(x, a20);
                a21 = k1.fma(x, a21);
                x = FloatVector.broadcast(S, q[q3 + c] * scale);
                a30 = k0.fma(x, a30);
                a31 = k1.fma(x, a31);
            }
            a00.intoArray(s, s0 + j);
            a01.intoArray(s, s0 + j + L);
            a10.intoArray(s, s0 + ss + j);
            a11.intoArray(s, s0 + ss + j + L);
            a20.intoArray(s, s0 + 2 * ss + j);
            a21.intoArray(s, s0 + 2 * ss + j + L);
            a30.intoArray(s, s0 + 3 * ss + j);
            a31.intoArray(s, s0 + 3 * ss + j + L);
        }
        return j;
    }

    private static int scores4x1(
            float[] q,
            int q0,
            int qs,
            float scale,
            float[] kt,
            int ko,
            int ks,
            int d,
            float[] s,
            int s0,
            int ss,
            int cols,
            int j) {
        int q1 = q0 + qs;
        int q2 = q1 + qs;
        int q3 = q2 + qs;
        for (; j + L <= cols; j += L) {
            FloatVector a0 = FloatVector.zero(S),
                    a1 = FloatVector.zero(S),
                    a2 = FloatVector.zero(S),
                    a3 = FloatVector.zero(S);
            for (int c = 0; c < d; c++) {
                FloatVector k0 = FloatVector.fromArray(S, kt, ko + c * ks + j);
                a0 = k0.fma(FloatVector.broadcast(S, q[q0 + c] * scale), a0);
                a1 = k0.fma(FloatVector.broadcast(S, q[q1 + c] * scale), a1);
                a2 = k0.fma(FloatVector.broadcast(S, q[q2 + c] * scale), a2);
                a3 = k0.fma(FloatVector.broadcast(S, q[q3 + c] * scale), a3);
            }
            a0.intoArray(s, s0 + j);
            a1.intoArray(s, s0 + ss + j);
            a2.intoArray(s, s0 + 2 * ss + j);
            a3.intoArray(s, s0 + 3 * ss + j);
        }
        return j;
    }

    private static int scores4Scalar(
            float[] q,
            int q0,
            int qs,
            float scale,
            float[] kt,
            int ko,
            int ks,
            int d,
            float[] s,
            int s0,
            int ss,
            int cols,
            int j) {
        int q1 = q0 + qs;
        int q2 = q1 + qs;
        int q3 = q2 + qs;
        for (; j < cols; j++) {
            float b0 = 0f, b1 = 0f, b2 = 0f, b3 = 0f;
            for (int c = 0; c < d; c++) {
                float kv = kt[ko + c * ks + j];
                b0 = Math.fma(q[q0 + c] * scale, kv, b0);
                b1 = Math.fma(q[q1 + c] * scale, kv, b1);
                b2 = Math.fma(q[q2 + c] * scale, kv, b2);
                b3 = Math.fma(q[q3 + c] * scale, kv, b3);
            }
            s[s0 + j] = b0;
            s[s0 + ss + j] = b1;
            s[s0 + 2 * ss + j] = b2;
            s[s0 + 3 * ss + j] = b3;
        }
        return j;
    }

    /** One query row against {@code cols} keys: 4, then 1 vectors of keys per step, then scalar keys. */
    private static void scores1(
            float[] q, int q0, float scale, float[] kt, int ko, int ks, int d, float[] s, int s0, int cols) {
        int j = 0;
        for (; j + 4 * L <= cols; j += 4 * L) {
            FloatVector a0 = FloatVector.zero(S),
                    a1 = FloatVector.zero(S),
                    a2 = FloatVector.zero(S),
                    a3 = FloatVector.zero(S);
            for (int c = 0; c < d; c++) {
                int k = ko + c * ks + j;
                FloatVector x = FloatVector.broadcast(S, q[q0 + c] * scale);
                a0 = FloatVector.fromArray(S, kt, k).fma(x, a0);
                a1 = FloatVector.fromArray(S, kt, k + L).fma(x, a1);
                a2 = FloatVector.fromArray(S, kt, k + 2 * L).fma(x, a2);
                a3 = FloatVector.fromArray(S, kt, k + 3 * L).fma(x, a3);
            }
            store4(s, s0 + j, a0, a1, a2, a3);
        }
        for (; j + L <= cols; j += L) {
            FloatVector a0 = FloatVector.zero(S);
            for (int c = 0; c < d; c++) {
                a0 = FloatVector.fromArray(S, kt, ko + c * ks + j).fma(FloatVector.broadcast(S, q[q0 + c] * scale), a0);
            }
            a0.intoArray(s, s0 + j);
        }
        for (; j < cols; j++) {
            float b = 0f;
            for (int c = 0; c < d; c++) {
                b = Math.fma(q[q0 + c] * scale, kt[ko + c * ks + j], b);
            }
            s[s0 + j] = b;
        }
    }

    private static void store4(float[] a, int o, FloatVector v0, FloatVector v1, FloatVector v2, FloatVector v3) {
        v0.intoArray(a, o);
        v1.intoArray(a, o + L);
        v2.intoArray(a, o + 2 * L);
        v3.intoArray(a, o + 3 * L);
    }

    @Override
    public void accumulateBlock(
            float[] p,
            int po,
            int ps,
            float[] v,
            int vo,
            int vs,
            float[] acc,
            int ao,
            int as,
            int rows,
            int cols,
            int d) {
        int i = 0;
        for (; i + 4 <= rows; i += 4) {
            accumulate4(p, po + i * ps, ps, v, vo, vs, acc, ao + i * as, as, cols, d);
        }
        for (; i < rows; i++) {
            accumulate1(p, po + i * ps, v, vo, vs, acc, ao + i * as, cols, d);
        }
    }

    /**
     * Four rows of {@code acc} held in registers over all {@code cols} keys: each V vector loaded
     * once serves the four rows (tiles of 4 × 4, then 4 × 2 and 4 × 1 vectors of head_dim, then
     * scalar columns), each tile its own small method as in {@link #scores4}.
     */
    private static void accumulate4(
            float[] p, int p0, int ps, float[] v, int vo, int vs, float[] acc, int r0, int as, int cols, int d) {
        int c = accumulate4x4(p, p0, ps, v, vo, vs, acc, r0, as, cols, d, 0);
        c = accumulate4x2(p, p0, ps, v, vo, vs, acc, r0, as, cols, d, c);
        c = accumulate4x1(p, p0, ps, v, vo, vs, acc, r0, as, cols, d, c);
        accumulate4Scalar(p, p0, ps, v, vo, vs, acc, r0, as, cols, d, c);
    }

    private static int accumulate4x4(
            float[] p, int p0, int ps, float[] v, int vo, int vs, float[] acc, int r0, int as, int cols, int d, int c) {
        int p1 = p0 + ps;
        int p2 = p1 + ps;
        int p3 = p2 + ps;
        int r1 = r0 + as;
        int r2 = r1 + as;
        int r3 = r2 + as;
        for (; c + 4 * L <= d; c += 4 * L) {
            FloatVector a00 = FloatVector.fromArray(S, acc, r0 + c);
            FloatVector a01 = FloatVector.fromArray(S, acc, r0 + c + L);
            FloatVector a02 = FloatVector.fromArray(S, acc, r0 + c + 2 * L);
            FloatVector a03 = FloatVector.fromArray(S, acc, r0 + c + 3 * L);
            FloatVector a10 = FloatVector.fromArray(S, acc, r1 + c);
            FloatVector a11 = FloatVector.fromArray(S, acc, r1 + c + L);
            FloatVector a12 = FloatVector.fromArray(S, acc, r1 + c + 2 * L);
            FloatVector a13 = FloatVector.fromArray(S, acc, r1 + c + 3 * L);
            FloatVector a20 = FloatVector.fromArray(S, acc, r2 + c);
            FloatVector a21 = FloatVector.fromArray(S, acc, r2 + c + L);
            FloatVector a22 = FloatVector.fromArray(S, acc, r2 + c + 2 * L);
            FloatVector a23 = FloatVector.fromArray(S, acc, r2 + c + 3 * L);
            FloatVector a30 = FloatVector.fromArray(S, acc, r3 + c);
            FloatVector a31 = FloatVector.fromArray(S, acc, r3 + c + L);
            FloatVector a32 = FloatVector.fromArray(S, acc, r3 + c + 2 * L);
            FloatVector a33 = FloatVector.fromArray(S, acc, r3 + c + 3 * L);
            for (int j = 0; j < cols; j++) {
                int vj = vo + j * vs + c;
                FloatVector v0 = FloatVector.fromArray(S, v, vj);
                FloatVector v1 = FloatVector.fromArray(S, v, vj + L);
                FloatVector v2 = FloatVector.fromArray(S, v, vj + 2 * L);
                FloatVector v3 = FloatVector.fromArray(S, v, vj + 3 * L);
                FloatVector x = FloatVector.broadcast(S, p[p0 + j]);
                a00 = v0.fma(x, a00);
                a01 = v1.fma(x, a01);
                a02 = v2.fma(x, a02);
                a03 = v3.fma(x, a03);
                x = FloatVector.broadcast(S, p[p1 + j]);
                a10 = v0.fma(x, a10);
                a11 = v1.fma(x, a11);
                a12 = v2.fma(x, a12);
                a13 = v3.fma(x, a13);
                x = FloatVector.broadcast(S, p[p2 + j]);
                a20 = v0.fma(x, a20);
                a21 = v1.fma(x, a21);
                a22 = v2.fma(x, a22);
                a23 = v3.fma(x, a23);
                x = FloatVector.broadcast(S, p[p3 + j]);
                a30 = v0.fma(x, a30);
                a31 = v1.fma(x, a31);
                a32 = v2.fma(x, a32);
                a33 = v3.fma(x, a33);
            }
            store4(acc, r0 + c, a00, a01, a02, a03);
            store4(acc, r1 + c, a10, a11, a12, a13);
            store4(acc, r2 + c, a20, a21, a22, a23);
            store4(acc, r3 + c, a30, a31, a32, a33);
        }
        return c;
    }

    private static int accumulate4x2(
            float[] p, int p0, int ps, float[] v, int vo, int vs, float[] acc, int r0, int as, int cols, int d, int c) {
        int p1 = p0 + ps;
        int p2 = p1 + ps;
        int p3 = p2 + ps;
        int r1 = r0 + as;
        int r2 = r1 + as;
        int r3 = r2 + as;
        for (; c + 2 * L <= d; c += 2 * L) {
            FloatVector a00 = FloatVector.fromArray(S, acc, r0 + c);
            FloatVector a01 = FloatVector.fromArray(S, acc, r0 + c + L);
            FloatVector a10 = FloatVector.fromArray(S, acc, r1 + c);
            FloatVector a11 = FloatVector.fromArray(S, acc, r1 + c + L);
            FloatVector a20 = FloatVector.fromArray(S, acc, r2 + c);
            FloatVector a21 = FloatVector.fromArray(S, acc, r2 + c + L);
            FloatVector a30 = FloatVector.fromArray(S, acc, r3 + c);
            FloatVector a31 = FloatVector.fromArray(S, acc, r3 + c + L);
            for (int j = 0; j < cols; j++) {
                int vj = vo + j * vs + c;
                FloatVector v0 = FloatVector.fromArray(S, v, vj);
                FloatVector v1 = FloatVector.fromArray(S, v, vj + L);
                FloatVector x = FloatVector.broadcast(S, p[p0 + j]);
                a00 = v0.fma(x, a00);
                a01 = v1.fma(x, a01);
                x = FloatVector.broadcast(S, p[p1 + j]);
                a10 = v0.fma(x, a10);
                a11 = v1.fma(x, a11);
                x = FloatVector.broadcast(S, p[p2 + j]);
                a20 = v0.fma(x, a20);
                a21 = v1.fma(x, a21);
                x = FloatVector.broadcast(S, p[p3 + j]);
                a30 = v0.fma(x, a30);
                a31 = v1.fma(x, a31);
            }
            a00.intoArray(acc, r0 + c);
            a01.intoArray(acc, r0 + c + L);
            a10.intoArray(acc, r1 + c);
            a11.intoArray(acc, r1 + c + L);
            a20.intoArray(acc, r2 + c);
            a21.intoArray(acc, r2 + c + L);
            a30.intoArray(acc, r3 + c);
            a31.intoArray(acc, r3 + c + L);
        }
        return c;
    }

    private static int accumulate4x1(
            float[] p, int p0, int ps, float[] v, int vo, int vs, float[] acc, int r0, int as, int cols, int d, int c) {
        int p1 = p0 + ps;
        int p2 = p1 + ps;
        int p3 = p2 + ps;
        int r1 = r0 + as;
        int r2 = r1 + as;
        int r3 = r2 + as;
        for (; c + L <= d; c += L) {
            FloatVector a0 = FloatVector.fromArray(S, acc, r0 + c);
            FloatVector a1 = FloatVector.fromArray(S, acc, r1 + c);
            FloatVector a2 = FloatVector.fromArray(S, acc, r2 + c);
            FloatVector a3 = FloatVector.fromArray(S, acc, r3 + c);
            for (int j = 0; j < cols; j++) {
                FloatVector v0 = FloatVector.fromArray(S, v, vo + j * vs + c);
                a0 = v0.fma(FloatVector.broadcast(S, p[p0 + j]), a0);
                a1 = v0.fma(FloatVector.broadcast(S, p[p1 + j]), a1);
                a2 = v0.fma(FloatVector.broadcast(S, p[p2 + j]), a2);
                a3 = v0.fma(FloatVector.broadcast(S, p[p3 + j]), a3);
            }
            a0.intoArray(acc, r0 + c);
            a1.intoArray(acc, r1 + c);
            a2.intoArray(acc, r2 + c);
            a3.intoArray(acc, r3 + c);
        }
        return c;
    }

    private static int accumulate4Scalar(
            float[] p, int p0, int ps, float[] v, int vo, int vs, float[] acc, int r0, int as, int cols, int d, int c) {
        int p1 = p0 + ps;
        int p2 = p1 + ps;
        int p3 = p2 + ps;
        int r1 = r0 + as;
        int r2 = r1 + as;
        int r3 = r2 + as;
        for (; c < d; c++) {
            float b0 = acc[r0 + c], b1 = acc[r1 + c], b2 = acc[r2 + c], b3 = acc[r3 + c];
            for (int j = 0; j < cols; j++) {
                float vv = v[vo + j * vs + c];
                b0 = Math.fma(p[p0 + j], vv, b0);
                b1 = Math.fma(p[p1 + j], vv, b1);
                b2 = Math.fma(p[p2 + j], vv, b2);
                b3 = Math.fma(p[p3 + j], vv, b3);
            }
            acc[r0 + c] = b0;
            acc[r1 + c] = b1;
            acc[r2 + c] = b2;
            acc[r3 + c] = b3;
        }
        return c;
    }

    /** One row of {@code acc} in registers over all keys: 4, then 1 vectors of head_dim, then scalar columns. */
    private static void accumulate1(
            float[] p, int p0, float[] v, int vo, int vs, float[] acc, int r0, int cols, int d) {
        int c = 0;
        for (; c + 4 * L <= d; c += 4 * L) {
            FloatVector a0 = FloatVector.fromArray(S, acc, r0 + c);
            FloatVector a1 = FloatVector.fromArray(S, acc, r0 + c + L);
            FloatVector a2 = FloatVector.fromArray(S, acc, r0 + c + 2 * L);
            FloatVector a3 = FloatVector.fromArray(S, acc, r0 + c + 3 * L);
            for (int j = 0; j < cols; j++) {
                int vj = vo + j * vs + c;
                FloatVector x = FloatVector.broadcast(S, p[p0 + j]);
                a0 = FloatVector.fromArray(S, v, vj).fma(x, a0);
                a1 = FloatVector.fromArray(S, v, vj + L).fma(x, a1);
                a2 = FloatVector.fromArray(S, v, vj + 2 * L).fma(x, a2);
                a3 = FloatVector.fromArray(S, v, vj + 3 * L).fma(x, a3);
            }
            store4(acc, r0 + c, a0, a1, a2, a3);
        }
        for (; c + L <= d; c += L) {
            FloatVector a0 = FloatVector.fromArray(S, acc, r0 + c);
            for (int j = 0; j < cols; j++) {
                a0 = FloatVector.fromArray(S, v, vo + j * vs + c).fma(FloatVector.broadcast(S, p[p0 + j]), a0);
            }
            a0.intoArray(acc, r0 + c);
        }
        for (; c < d; c++) {
            float b = acc[r0 + c];
            for (int j = 0; j < cols; j++) {
                b = Math.fma(p[p0 + j], v[vo + j * vs + c], b);
            }
            acc[r0 + c] = b;
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

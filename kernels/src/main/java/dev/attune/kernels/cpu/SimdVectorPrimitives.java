package dev.attune.kernels.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/** {@link VectorPrimitives} on the JDK Vector API at the platform's preferred width. */
final class SimdVectorPrimitives implements VectorPrimitives {

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int L = S.length();

    @Override
    public float dot(float[] a, int ao, float[] b, int bo, int len) {
        int i = 0;
        FloatVector acc = FloatVector.zero(S);
        for (; i + L <= len; i += L) {
            acc = FloatVector.fromArray(S, a, ao + i).fma(FloatVector.fromArray(S, b, bo + i), acc);
        }
        float s = acc.reduceLanes(VectorOperators.ADD);
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
            FloatVector e = FloatVector.fromArray(S, y, yo + i).sub(shift).lanewise(VectorOperators.EXP);
            e.intoArray(y, yo + i);
            acc = acc.add(e);
        }
        float sum = acc.reduceLanes(VectorOperators.ADD);
        for (; i < len; i++) {
            float e = (float) Math.exp(y[yo + i] - shift);
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
            FloatVector erfc = t.mul(z.mul(z).neg().add(poly).lanewise(VectorOperators.EXP));
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
}

package dev.attune.kernels.cpu;

/** Portable {@link VectorPrimitives}; the dot product keeps four partial sums to shorten the dependency chain. */
final class ScalarVectorPrimitives implements VectorPrimitives {

    @Override
    public float dot(float[] a, int ao, float[] b, int bo, int len) {
        float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        int i = 0;
        for (; i + 4 <= len; i += 4) {
            s0 = Math.fma(a[ao + i], b[bo + i], s0);
            s1 = Math.fma(a[ao + i + 1], b[bo + i + 1], s1);
            s2 = Math.fma(a[ao + i + 2], b[bo + i + 2], s2);
            s3 = Math.fma(a[ao + i + 3], b[bo + i + 3], s3);
        }
        for (; i < len; i++) {
            s0 = Math.fma(a[ao + i], b[bo + i], s0);
        }
        return (s0 + s1) + (s2 + s3);
    }

    @Override
    public void axpy(float alpha, float[] x, int xo, float[] y, int yo, int len) {
        for (int i = 0; i < len; i++) {
            y[yo + i] += alpha * x[xo + i];
        }
    }

    @Override
    public void scale(float alpha, float[] y, int yo, int len) {
        for (int i = 0; i < len; i++) {
            y[yo + i] *= alpha;
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
        for (int i = 0; i < rows; i++) {
            for (int j = 0; j < cols; j++) {
                float sum = 0f;
                for (int c = 0; c < d; c++) {
                    sum = Math.fma(q[qo + i * qs + c] * scale, kt[ko + c * ks + j], sum);
                }
                s[so + i * ss + j] = sum;
            }
        }
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
        for (int i = 0; i < rows; i++) {
            for (int c = 0; c < d; c++) {
                float a = acc[ao + i * as + c];
                for (int j = 0; j < cols; j++) {
                    a = Math.fma(p[po + i * ps + j], v[vo + j * vs + c], a);
                }
                acc[ao + i * as + c] = a;
            }
        }
    }

    @Override
    public float expShiftSum(float[] y, int yo, int len, float shift) {
        float sum = 0f;
        for (int i = 0; i < len; i++) {
            float e = (float) Math.exp(y[yo + i] - shift);
            y[yo + i] = e;
            sum += e;
        }
        return sum;
    }

    @Override
    public void geluErf(float[] x, int from, int to) {
        for (int i = from; i < to; i++) {
            float v = x[i];
            x[i] = (float) (0.5 * v * (1.0 + VectorPrimitives.erf(v * 0.7071067811865476)));
        }
    }

    @Override
    public void siluMul(float[] gate, int go, float[] up, int uo, float[] out, int oo, int len) {
        for (int i = 0; i < len; i++) {
            float z = gate[go + i];
            out[oo + i] = z / (1f + (float) Math.exp(-z)) * up[uo + i];
        }
    }
}

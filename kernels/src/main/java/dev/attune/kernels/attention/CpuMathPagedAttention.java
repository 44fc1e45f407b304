package dev.attune.kernels.attention;

import dev.attune.kernels.cpu.CpuThreads;

/**
 * {@code cpu-math} over paged KV caches: for each query and head, every visible key's score in
 * fp64, softmax in fp64, the weighted sum of values in fp64. The oracle of the paged kernels.
 */
public final class CpuMathPagedAttention implements PagedAttentionKernel {

    @Override
    public String path() {
        return CpuMathAttention.PATH;
    }

    @Override
    public void forward(
            PagedAttentionProblem p,
            float[] q,
            int qCol,
            int qStride,
            float[] kCache,
            float[] vCache,
            float[] out,
            CpuThreads threads) {
        PagedAttentionKernel.checkBuffers(p, q, qCol, qStride, out);
        int d = p.cache().headDim();
        int group = p.heads() / p.cache().kvHeads();
        for (int b = 0; b < p.batch(); b++) {
            for (int t = p.queryStarts()[b]; t < p.queryStarts()[b + 1]; t++) {
                int pos = p.position(b, t);
                int first = p.firstKey(pos);
                double[] s = new double[pos - first + 1];
                for (int h = 0; h < p.heads(); h++) {
                    int g = h / group;
                    int qo = t * qStride + qCol + h * d;
                    int oo = (t * p.heads() + h) * d;
                    double max = Double.NEGATIVE_INFINITY;
                    for (int j = first; j <= pos; j++) {
                        int ko = p.keyOffset(b, j, g);
                        double dot = 0;
                        for (int c = 0; c < d; c++) {
                            dot += (double) q[qo + c] * kCache[ko + c];
                        }
                        s[j - first] = dot * p.scale();
                        max = Math.max(max, s[j - first]);
                    }
                    double sum = 0;
                    for (int j = 0; j < s.length; j++) {
                        s[j] = Math.exp(s[j] - max);
                        sum += s[j];
                    }
                    for (int c = 0; c < d; c++) {
                        double acc = 0;
                        for (int j = first; j <= pos; j++) {
                            acc += s[j - first] * vCache[p.keyOffset(b, j, g) + c];
                        }
                        out[oo + c] = (float) (acc / sum);
                    }
                }
            }
        }
    }
}

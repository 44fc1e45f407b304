package dev.attune.kernels.attention;

import dev.attune.kernels.cpu.CpuThreads;

/**
 * {@code cpu-math}: the plain formulation, and the oracle every other path is tested against.
 *
 * <p>For each (row, head) it materialises the full score matrix S = scale · Q·Kᵀ in double,
 * takes a max-subtracted softmax over each query's keys and multiplies by V, accumulating in
 * double throughout. Its workspace is one (N × N) double matrix per worker, so it is O(N²) in the
 * sequence length: exact, and meant for short rows and for testing.
 */
public final class CpuMathAttention implements AttentionKernel {

    public static final String PATH = "cpu-math";

    @Override
    public String path() {
        return PATH;
    }

    @Override
    public long workspaceBytes(AttentionProblem p, int threads) {
        long n = p.maxSeqLen();
        return Math.min(threads, (long) p.batch() * p.heads())
                * (n * p.maxKeyLength() + (long) p.headDim())
                * Double.BYTES;
    }

    @Override
    public void forward(AttentionProblem p, float[] q, float[] k, float[] v, float[] out, CpuThreads threads) {
        AttentionKernel.checkBuffers(p, q, k, v, out);
        int heads = p.heads();
        int d = p.headDim();
        int stride = p.rowStride();
        int ow = p.outWidth();
        int units = p.batch() * heads;
        int maxN = p.maxSeqLen();
        int maxK = p.maxKeyLength();
        threads.parallelFor(units, 1, (u0, u1) -> {
            // (N, keys) scores of one (row, head), reused across the units of this worker.
            double[] s = new double[maxN * maxK];
            double[] acc = new double[d];
            for (int u = u0; u < u1; u++) {
                int b = u / heads;
                int h = u % heads;
                int kvh = p.kvHeadOf(h);
                int start = p.cuSeqlens()[b];
                int n = p.seqLen(b);
                for (int i = 0; i < n; i++) {
                    int qo = (start + i) * stride + p.qOffset() + h * d;
                    for (int j = p.firstKey(b, i); j < p.keyEnd(b, i); j++) {
                        int ko = p.keyToken(b, j) * stride + p.kOffset() + kvh * d;
                        double dot = 0;
                        for (int c = 0; c < d; c++) {
                            dot += (double) q[qo + c] * k[ko + c];
                        }
                        s[i * maxK + j] = dot * p.scale();
                    }
                }
                for (int i = 0; i < n; i++) {
                    int first = p.firstKey(b, i);
                    int end = p.keyEnd(b, i);
                    double max = Double.NEGATIVE_INFINITY;
                    for (int j = first; j < end; j++) {
                        max = Math.max(max, s[i * maxK + j]);
                    }
                    double sum = 0;
                    for (int j = first; j < end; j++) {
                        double e = Math.exp(s[i * maxK + j] - max);
                        s[i * maxK + j] = e;
                        sum += e;
                    }
                    java.util.Arrays.fill(acc, 0);
                    for (int j = first; j < end; j++) {
                        double pj = s[i * maxK + j] / sum;
                        int vo = p.keyToken(b, j) * stride + p.vOffset() + kvh * d;
                        for (int c = 0; c < d; c++) {
                            acc[c] += pj * v[vo + c];
                        }
                    }
                    int oo = (start + i) * ow + h * d;
                    for (int c = 0; c < d; c++) {
                        out[oo + c] = (float) acc[c];
                    }
                }
            }
        });
    }
}

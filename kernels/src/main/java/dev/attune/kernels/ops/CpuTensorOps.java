package dev.attune.kernels.ops;

import dev.attune.kernels.attention.AttentionKernel;
import dev.attune.kernels.attention.AttentionProblem;
import dev.attune.kernels.attention.PagedAttentionKernel;
import dev.attune.kernels.attention.PagedAttentionProblem;
import dev.attune.kernels.cpu.CpuGemm;
import dev.attune.kernels.cpu.CpuOps;
import dev.attune.kernels.cpu.CpuThreads;
import dev.attune.kernels.cpu.VectorPrimitives;
import dev.attune.kernels.kv.KvBlockPool;
import dev.attune.kernels.precision.StoredPrecision;
import dev.attune.kernels.select.ComputeDtype;

/**
 * The op contract on the CPU: fp32 arithmetic with fp32 accumulation, split over the task's
 * {@link CpuThreads}; attention through the {@link AttentionKernel} the selector chose.
 *
 * <p>With a compute dtype of fp16 or bf16 it stands for a simulated GPU: weights come rounded
 * from {@link CpuWeights}, and {@link #store} rounds each activation the device would store, as
 * the device would, raising on fp16 overflow. In fp32 {@link #store} does nothing.
 *
 * <p>Threading: one instance per forward pass; the pass's calls come from one thread.
 */
public final class CpuTensorOps implements TensorOps {

    /** Rows of hidden state whose logits are held at once: (rows, vocab) fp32 of scratch. */
    public static final int LOGIT_ROWS = 128;

    private final ComputeDtype dtype;
    private final AttentionKernel attention;
    /** The paged-cache kernel of the same path ({@code cpu-math}'s oracle for math paths, else {@code cpu-flash}). */
    private final PagedAttentionKernel paged;

    private final CpuThreads threads;
    private final VectorPrimitives simd = VectorPrimitives.get();

    public CpuTensorOps(ComputeDtype dtype, AttentionKernel attention, CpuThreads threads) {
        this.dtype = dtype;
        this.attention = attention;
        this.paged = PagedAttentionKernel.forPath(attention.path());
        this.threads = threads;
    }

    @Override
    public ComputeDtype dtype() {
        return dtype;
    }

    @Override
    public String attentionPath() {
        return attention.path();
    }

    @Override
    public Tensor allocate(int rows, int cols) {
        return new CpuTensor(new float[Math.multiplyExact(rows, cols)], rows, cols);
    }

    @Override
    public float[] download(Tensor t) {
        CpuTensor c = CpuTensor.of(t);
        return java.util.Arrays.copyOf(c.data(), Math.toIntExact(c.elements()));
    }

    private static float[] d(Tensor t) {
        return CpuTensor.of(t).data();
    }

    private static void sameShape(Tensor a, Tensor b, String op) {
        if (a.rows() != b.rows() || a.cols() != b.cols()) {
            throw new IllegalArgumentException(op + ": shapes differ, (" + a.rows() + ", " + a.cols() + ") and ("
                    + b.rows() + ", " + b.cols() + ")");
        }
    }

    @Override
    public void gatherRows(Tensor table, int[] ids, Tensor out, boolean accumulate) {
        int w = table.cols();
        if (out.cols() != w || out.rows() != ids.length) {
            throw new IllegalArgumentException("gather: " + ids.length + " rows of width " + w + " do not fit " + out);
        }
        CpuTensor tt = CpuTensor.of(table);
        // fp32 row-major tables are copied row by row; bf16 and packed ones are read value by value.
        float[] t = tt.packed() == null && tt.bf16() == null ? tt.data() : null;
        float[] o = d(out);
        for (int r = 0; r < ids.length; r++) {
            int id = ids[r];
            if (id < 0 || id >= table.rows()) {
                throw new IllegalArgumentException(
                        "gather: id " + id + " at row " + r + " is outside a table of " + table.rows() + " rows");
            }
            if (t != null && !accumulate) {
                System.arraycopy(t, id * w, o, r * w, w);
                continue;
            }
            for (int i = 0; i < w; i++) {
                float v = t != null ? t[id * w + i] : tt.get(id, i);
                o[r * w + i] = accumulate ? o[r * w + i] + v : v;
            }
        }
    }

    @Override
    public void linear(Tensor x, Tensor w, Tensor bias, Tensor y, Epilogue epilogue) {
        int m = x.rows();
        int k = x.cols();
        int n = w.cols();
        if (w.rows() != k || y.rows() != m || y.cols() != n || (bias != null && bias.elements() != n)) {
            throw new IllegalArgumentException("linear: x " + x + ", w " + w + ", y " + y + " do not fit");
        }
        CpuTensor cw = CpuTensor.of(w);
        float[] b = bias == null ? null : d(bias);
        if (cw.packed() != null && !cw.storedTransposed()) {
            CpuGemm.matmul(d(x), m, cw.packed(), b, d(y), threads);
        } else if (cw.packed() != null) {
            throw new IllegalArgumentException("linear: " + w + " is an output table, not a Linear weight");
        } else if (cw.bf16() != null) {
            CpuGemm.matmulBf16(d(x), m, k, cw.bf16(), n, b, d(y), threads); // packs per call
        } else {
            CpuGemm.matmul(d(x), m, k, cw.data(), n, b, d(y), threads); // packs per call
        }
        if (epilogue == Epilogue.GELU_ERF) {
            CpuOps.geluErf(d(y), m, n, threads);
        }
    }

    @Override
    public void addLayerNorm(Tensor x, Tensor residual, Tensor gamma, Tensor beta, float eps) {
        if (residual != null) {
            sameShape(x, residual, "addLayerNorm");
        }
        CpuOps.addLayerNorm(
                d(x), residual == null ? null : d(residual), x.rows(), x.cols(), d(gamma), d(beta), eps, threads);
    }

    @Override
    public void addRmsNorm(Tensor stream, Tensor delta, Tensor gamma, float eps, Tensor out) {
        sameShape(stream, out, "addRmsNorm");
        if (delta != null) {
            sameShape(stream, delta, "addRmsNorm");
        }
        int w = stream.cols();
        float[] s = d(stream);
        float[] dl = delta == null ? null : d(delta);
        float[] g = d(gamma);
        float[] o = d(out);
        threads.parallelFor(stream.rows(), 16, (r0, r1) -> {
            for (int r = r0; r < r1; r++) {
                int off = r * w;
                if (dl != null) {
                    for (int i = 0; i < w; i++) {
                        s[off + i] += dl[off + i];
                    }
                }
                rmsNorm(s, off, o, off, w, g, eps);
            }
        });
    }

    /** {@code out[oo..] = x[xo..] / sqrt(mean(x²) + eps) · gamma} over {@code w} values; the mean in double. */
    private static void rmsNorm(float[] x, int xo, float[] out, int oo, int w, float[] gamma, float eps) {
        double sq = 0;
        for (int i = 0; i < w; i++) {
            double v = x[xo + i];
            sq += v * v;
        }
        float inv = (float) (1.0 / Math.sqrt(sq / w + eps));
        for (int i = 0; i < w; i++) {
            out[oo + i] = x[xo + i] * inv * gamma[i];
        }
    }

    @Override
    public void headRmsNorm(Tensor x, int colOffset, int heads, int headDim, Tensor gamma, float eps) {
        checkHeads(x, colOffset, heads, headDim, "headRmsNorm");
        float[] a = d(x);
        float[] g = d(gamma);
        int w = x.cols();
        threads.parallelFor(x.rows(), 16, (r0, r1) -> {
            for (int r = r0; r < r1; r++) {
                for (int h = 0; h < heads; h++) {
                    int o = r * w + colOffset + h * headDim;
                    rmsNorm(a, o, a, o, headDim, g, eps);
                }
            }
        });
    }

    private static void checkHeads(Tensor x, int colOffset, int heads, int headDim, String op) {
        if (colOffset < 0 || colOffset + (long) heads * headDim > x.cols()) {
            throw new IllegalArgumentException(
                    op + ": " + heads + " heads of " + headDim + " at column " + colOffset + " do not fit " + x);
        }
    }

    @Override
    public void rope(Tensor x, int colOffset, int heads, int headDim, int[] positions, double[] invFreq) {
        checkHeads(x, colOffset, heads, headDim, "rope");
        int half = headDim / 2;
        if (headDim % 2 != 0 || invFreq.length != half || positions.length != x.rows()) {
            throw new IllegalArgumentException("rope: head_dim " + headDim + ", " + invFreq.length + " frequencies, "
                    + positions.length + " positions for " + x);
        }
        float[] a = d(x);
        int w = x.cols();
        threads.parallelFor(x.rows(), 8, (r0, r1) -> {
            float[] cos = new float[half];
            float[] sin = new float[half];
            for (int r = r0; r < r1; r++) {
                for (int i = 0; i < half; i++) {
                    // The angle in double: positions reach 10^5 and more, where fp32 angles lose digits.
                    double angle = positions[r] * invFreq[i];
                    cos[i] = (float) Math.cos(angle);
                    sin[i] = (float) Math.sin(angle);
                }
                for (int h = 0; h < heads; h++) {
                    int o = r * w + colOffset + h * headDim;
                    for (int i = 0; i < half; i++) {
                        float lo = a[o + i];
                        float hi = a[o + half + i];
                        a[o + i] = lo * cos[i] - hi * sin[i];
                        a[o + half + i] = hi * cos[i] + lo * sin[i];
                    }
                }
            }
        });
    }

    @Override
    public void siluMul(Tensor gateUp, Tensor out) {
        int n = out.cols();
        if (gateUp.cols() != 2 * n || gateUp.rows() != out.rows()) {
            throw new IllegalArgumentException("siluMul: gate|up " + gateUp + " does not fit " + out);
        }
        float[] gu = d(gateUp);
        float[] o = d(out);
        int rows = out.rows();
        if (rows >= 8 * threads.threads()) {
            threads.parallelFor(rows, 8, (r0, r1) -> siluMul(gu, o, n, r0, r1, 0, n));
        } else {
            // A decode step's few rows: split the columns instead, so every thread takes a share.
            threads.parallelFor(n, 512, (c0, c1) -> siluMul(gu, o, n, 0, rows, c0, c1));
        }
    }

    /** {@code out[r][i] = silu(gate[r][i]) · up[r][i]} for rows [r0, r1) and columns [c0, c1). */
    private void siluMul(float[] gu, float[] o, int n, int r0, int r1, int c0, int c1) {
        for (int r = r0; r < r1; r++) {
            int g = r * 2 * n;
            simd.siluMul(gu, g + c0, gu, g + n + c0, o, r * n + c0, c1 - c0);
        }
    }

    @Override
    public void attention(AttentionProblem problem, Tensor q, Tensor k, Tensor v, Tensor out) {
        attention.forward(problem, d(q), d(k), d(v), d(out), threads);
    }

    @Override
    public void cacheKv(Tensor qkv, int kCol, int vCol, int[] slots, KvBlockPool cache, int layer) {
        int w = cache.shape().tokenWidth();
        if (slots.length != qkv.rows() || kCol + w > qkv.cols() || vCol + w > qkv.cols()) {
            throw new IllegalArgumentException("cacheKv: " + slots.length + " slots for " + qkv + ", K/V width " + w
                    + " from columns " + kCol + " and " + vCol);
        }
        float[] x = d(qkv);
        float[] keys = cache.keys(layer);
        float[] values = cache.values(layer);
        for (int r = 0; r < slots.length; r++) {
            System.arraycopy(x, r * qkv.cols() + kCol, keys, slots[r], w);
            System.arraycopy(x, r * qkv.cols() + vCol, values, slots[r], w);
        }
    }

    @Override
    public void pagedAttention(
            PagedAttentionProblem problem, Tensor q, int qCol, KvBlockPool cache, int layer, Tensor out) {
        if (q.rows() != problem.totalQueries()
                || out.rows() != problem.totalQueries()
                || out.cols() != problem.rowWidth()) {
            throw new IllegalArgumentException("pagedAttention: q " + q + ", out " + out + " for " + problem);
        }
        paged.forward(problem, d(q), qCol, q.cols(), cache.keys(layer), cache.values(layer), d(out), threads);
    }

    @Override
    public float[] logits(Tensor hidden, int[] rows, Tensor table) {
        int w = hidden.cols();
        if (table.cols() != w) {
            throw new IllegalArgumentException("logits: hidden " + hidden + ", table " + table);
        }
        for (int r : rows) {
            if (r < 0 || r >= hidden.rows()) {
                throw new IllegalArgumentException("logits: row " + r + " outside hidden " + hidden);
            }
        }
        float[] logits = new float[rows.length * table.rows()];
        gatherLogits(hidden, rows, 0, rows.length, table, new float[rows.length * w], logits);
        return logits;
    }

    /**
     * The logits of hidden rows {@code rows[from .. from + n)} into {@code logits} (n, vocab):
     * the rows gathered into {@code x}, then (n, hidden) · (vocab, hidden)ᵀ over the table packed
     * as (hidden, vocab) panels, streamed once for the whole group. Rows are checked by the caller.
     */
    private void gatherLogits(Tensor hidden, int[] rows, int from, int n, Tensor table, float[] x, float[] logits) {
        int w = hidden.cols();
        float[] h = d(hidden);
        for (int j = 0; j < n; j++) {
            System.arraycopy(h, rows[from + j] * w, x, j * w, w);
        }
        CpuTensor t = CpuTensor.of(table);
        if (t.packed() != null && t.storedTransposed()) {
            // Packed (hidden, vocab): one streaming pass for a decode step's row.
            CpuGemm.matmul(x, n, t.packed(), null, logits, threads);
        } else if (t.packed() != null) {
            throw new IllegalArgumentException("logits: " + table + " is a Linear weight, not a (vocab, hidden) table");
        } else if (t.bf16() != null) {
            CpuGemm.matmulTransposedBf16(x, n, w, t.bf16(), table.rows(), logits, threads); // packs per call
        } else {
            CpuGemm.matmulTransposed(x, n, w, t.data(), table.rows(), logits, threads); // packs per call
        }
    }

    @Override
    public float[] tokenLogProbs(Tensor hidden, int[] rows, Tensor table, int[] targets) {
        int w = hidden.cols();
        int vocab = table.rows();
        if (table.cols() != w || rows.length != targets.length) {
            throw new IllegalArgumentException("tokenLogProbs: hidden " + hidden + ", table " + table + ", "
                    + rows.length + " rows for " + targets.length + " targets");
        }
        float[] out = new float[rows.length];
        int group = Math.min(LOGIT_ROWS, rows.length);
        float[] x = new float[group * w];
        float[] logits = new float[group * vocab];
        for (int j0 = 0; j0 < rows.length; j0 += LOGIT_ROWS) {
            int n = Math.min(LOGIT_ROWS, rows.length - j0);
            for (int j = j0; j < j0 + n; j++) {
                if (rows[j] < 0 || rows[j] >= hidden.rows() || targets[j] < 0 || targets[j] >= vocab) {
                    throw new IllegalArgumentException("tokenLogProbs: row " + rows[j] + " / target " + targets[j]
                            + " outside hidden " + hidden + " / vocabulary " + vocab);
                }
            }
            gatherLogits(hidden, rows, j0, n, table, x, logits);
            int first = j0;
            threads.parallelFor(n, 1, (a, b) -> {
                for (int j = a; j < b; j++) {
                    int o = j * vocab;
                    float max = Float.NEGATIVE_INFINITY;
                    for (int v = 0; v < vocab; v++) {
                        max = Math.max(max, logits[o + v]);
                    }
                    double sum = 0;
                    for (int v = 0; v < vocab; v++) {
                        sum += Math.exp(logits[o + v] - max);
                    }
                    out[first + j] = (float) (logits[o + targets[first + j]] - max - Math.log(sum));
                }
            });
        }
        return out;
    }

    @Override
    public void store(Tensor x, String what) {
        StoredPrecision.round(d(x), Math.toIntExact(x.elements()), dtype, what, threads);
    }
}

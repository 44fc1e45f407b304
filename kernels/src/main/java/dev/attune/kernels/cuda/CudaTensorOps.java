package dev.attune.kernels.cuda;

import dev.attune.kernels.attention.AttentionProblem;
import dev.attune.kernels.attention.PagedAttentionProblem;
import dev.attune.kernels.cuda.launch.GemmLaunch;
import dev.attune.kernels.kv.KvBlockPool;
import dev.attune.kernels.ops.Epilogue;
import dev.attune.kernels.ops.Tensor;
import dev.attune.kernels.ops.TensorOps;
import dev.attune.kernels.precision.PrecisionOverflowException;
import dev.attune.kernels.select.AttentionChoice;
import dev.attune.kernels.select.AttentionPath;
import dev.attune.kernels.select.ComputeDtype;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The op contract on a CUDA GPU: each op is one or a few {@link CudaOps} launches on the stream
 * of one {@link CudaSession}, in the compute dtype of an {@link AttentionChoice}, with attention on
 * the choice's GPU path and query chunking. Weights come from a {@link CudaWeights} of the same
 * backend and dtype; activations are pooled arrays of the session.
 *
 * <p>Mapping: {@link #linear} is {@link CudaOps#gemm} (the fastest variant the device runs, bias
 * and erf-GELU fused in its epilogue) over a weight stored (out, in); {@link #gatherRows} is the
 * {@code gather_rows} kernel (accumulating in fp32, rounded once per call, so position and
 * token-type rows added to word rows round after each add, as the dtype's storage does);
 * {@link #addLayerNorm} is {@code add_layernorm}; {@link #attention} reads Q, K and V in place
 * from fused rows (strides of the problem's row width); {@link #download} widens to fp32 on the
 * device. The decoder ops (RMSNorm, RoPE, SiLU gating, token log-probabilities) have no CUDA
 * kernel in this build and throw {@link UnsupportedOperationException}; decoders run on the CPU
 * path.
 *
 * <p>Synchronisation: nothing here waits for the device except {@link #download}. Every launch
 * and host-to-device copy is ordered by the session's stream, so an op reads what earlier ops
 * wrote, and a host array handed to an upload is staged (copied) before the call returns. Int32
 * id arrays are uploaded per call into pooled arrays; cumulative sequence lengths once per
 * distinct {@link AttentionProblem} of the pass.
 *
 * <p>fp16 range: in fp16 each {@link #store} enqueues one {@code count_nonfinite} launch into its
 * own slot of a small device array of counters ({@link StoreChecks}), without waiting; the next
 * {@link #download} reads the counters back with the result and throws
 * {@link PrecisionOverflowException} for the first store, in order, that held a non-finite value,
 * naming it, so the runner re-runs the batch in fp32. bf16 (fp32's range) and fp32 are not
 * checked. Work enqueued after a failing store has run on infinities: its output is discarded.
 *
 * <p>Lifecycle and threading: one instance per forward pass, used by one thread at a time, as its
 * session; everything it allocates is the session's and goes back to the pool when the session
 * closes. Failure: shapes that do not fit raise {@link IllegalArgumentException} before anything
 * is enqueued; the device's failures are {@link CudaOps}'s ({@link KernelUnavailableException},
 * {@link GpuOutOfMemoryException}, {@link KernelFailureException}).
 */
public final class CudaTensorOps implements TensorOps {

    private final CudaSession session;
    private final CudaOps ops;
    private final AttentionPath path;
    private final ComputeDtype dtype;
    private final int queryChunk;
    private final StoreChecks stores = new StoreChecks();
    private final List<GpuArray> counterBlocks = new ArrayList<>();
    private final Map<AttentionProblem, GpuArray> cuSeqlens = new HashMap<>();

    /**
     * @param session the pass's session; its stream runs every op
     * @param choice  a GPU path, the compute dtype of the pass, and the math path's query chunk
     */
    public CudaTensorOps(CudaSession session, AttentionChoice choice) {
        if (session == null || choice == null) {
            throw new IllegalArgumentException("CUDA ops need a session and an attention choice");
        }
        if (choice.path() == null || !choice.path().isGpu()) {
            throw new IllegalArgumentException("CUDA ops need a GPU attention path, got " + choice.path());
        }
        this.session = session;
        this.ops = session.ops();
        this.path = choice.path();
        this.dtype = choice.dtype();
        this.queryChunk = choice.queryChunk();
    }

    @Override
    public ComputeDtype dtype() {
        return dtype;
    }

    @Override
    public String attentionPath() {
        return path.id();
    }

    @Override
    public Tensor allocate(int rows, int cols) {
        if (rows < 0 || cols < 0) {
            throw new IllegalArgumentException("cannot allocate a (" + rows + ", " + cols + ") tensor");
        }
        GpuArray a = session.alloc(dtype, Math.multiplyExact((long) rows, cols));
        session.zero(a);
        return new CudaTensor(a, rows, cols, false);
    }

    /**
     * The tensor's values as fp32, after checking (in fp16) the counters of every store so far.
     * Waits for all work of the session.
     *
     * @throws PrecisionOverflowException in fp16, for the first store that held a non-finite value
     */
    @Override
    public float[] download(Tensor t) {
        CudaTensor c = activation(t, "download", "t");
        checkStores();
        return session.download(c.array().slice(0, c.elements()));
    }

    /** Reads back the counters of the stores not yet checked (waits) and throws for the first non-zero one. */
    private void checkStores() {
        int from = stores.checkedUpTo();
        int to = stores.size();
        if (from == to) {
            return;
        }
        int[] counts = new int[to - from];
        for (int b = StoreChecks.block(from); b <= StoreChecks.block(to - 1); b++) {
            int[] block = session.downloadInts(counterBlocks.get(b));
            int first = Math.max(from, b * StoreChecks.BLOCK);
            int last = Math.min(to, (b + 1) * StoreChecks.BLOCK);
            System.arraycopy(block, first - b * StoreChecks.BLOCK, counts, first - from, last - first);
        }
        stores.check(from, counts);
    }

    @Override
    public void gatherRows(Tensor table, int[] ids, Tensor out, boolean accumulate) {
        CudaTensor tb = CudaTensor.of(table, "gatherRows", "table");
        CudaTensor o = activation(out, "gatherRows", "out");
        checkGather(tb, ids, o);
        if (ids.length == 0) {
            return;
        }
        GpuArray dIds = session.upload(ids);
        ops.gatherRows(dIds, tb.array(), tb.rows(), o.array(), ids.length, tb.cols(), accumulate);
        session.recycle(dIds); // stream order: the gather reads it before any later reuse writes it
    }

    /** gatherRows' shapes and ids, on the host: the kernel trusts the ids. */
    static void checkGather(CudaTensor table, int[] ids, CudaTensor out) {
        if (table.outInLayout()) {
            throw new IllegalArgumentException(
                    "gatherRows: " + table + " is a Linear weight, not a table read by rows");
        }
        int w = table.cols();
        if (out.cols() != w || out.rows() != ids.length) {
            throw new IllegalArgumentException(
                    "gatherRows: " + ids.length + " rows of width " + w + " do not fit " + out);
        }
        for (int r = 0; r < ids.length; r++) {
            if (ids[r] < 0 || ids[r] >= table.rows()) {
                throw new IllegalArgumentException("gatherRows: id " + ids[r] + " at row " + r
                        + " is outside a table of " + table.rows() + " rows");
            }
        }
    }

    @Override
    public void linear(Tensor x, Tensor w, Tensor bias, Tensor y, Epilogue epilogue) {
        CudaTensor a = activation(x, "linear", "x");
        CudaTensor wt = CudaTensor.of(w, "linear", "w");
        CudaTensor b = bias == null ? null : CudaTensor.of(bias, "linear", "bias");
        CudaTensor c = activation(y, "linear", "y");
        checkLinear(a, wt, b, c);
        int m = a.rows();
        if (m == 0) {
            return;
        }
        int gemmEpilogue = epilogue == Epilogue.GELU_ERF ? GemmLaunch.EPILOGUE_GELU : GemmLaunch.EPILOGUE_NONE;
        ops.gemm(a.array(), wt.array(), b == null ? null : b.array(), c.array(), m, wt.cols(), wt.rows(), gemmEpilogue);
    }

    /** x (m, k), w a Linear weight (k, n) stored (n, k), bias (n) or null, y (m, n). */
    static void checkLinear(CudaTensor x, CudaTensor w, CudaTensor bias, CudaTensor y) {
        if (!w.outInLayout()) {
            throw new IllegalArgumentException("linear: w " + w + " was not uploaded as a Linear weight "
                    + "(WeightUploader.linear), so it is not in the (out, in) layout the GEMM reads");
        }
        int k = x.cols();
        int n = w.cols();
        if (w.rows() != k || y.rows() != x.rows() || y.cols() != n || (bias != null && bias.elements() != n)) {
            throw new IllegalArgumentException(
                    "linear: x " + x + ", w " + w + ", bias " + bias + ", y " + y + " do not fit");
        }
    }

    @Override
    public void addLayerNorm(Tensor x, Tensor residual, Tensor gamma, Tensor beta, float eps) {
        CudaTensor a = activation(x, "addLayerNorm", "x");
        CudaTensor r = residual == null ? null : activation(residual, "addLayerNorm", "residual");
        CudaTensor g = CudaTensor.of(gamma, "addLayerNorm", "gamma");
        CudaTensor b = CudaTensor.of(beta, "addLayerNorm", "beta");
        if ((r != null && (r.rows() != a.rows() || r.cols() != a.cols()))
                || g.elements() != a.cols()
                || b.elements() != a.cols()) {
            throw new IllegalArgumentException(
                    "addLayerNorm: x " + a + ", residual " + r + ", gamma " + g + ", beta " + b + " do not fit");
        }
        ops.addLayerNorm(a.array(), r == null ? null : r.array(), g.array(), b.array(), eps, a.rows(), a.cols());
    }

    @Override
    public void attention(AttentionProblem problem, Tensor q, Tensor k, Tensor v, Tensor out) {
        CudaTensor tq = activation(q, "attention", "q");
        CudaTensor tk = activation(k, "attention", "k");
        CudaTensor tv = activation(v, "attention", "v");
        CudaTensor o = activation(out, "attention", "out");
        checkAttention(problem, tq, tk, tv, o);
        int tokens = problem.totalTokens();
        if (tokens == 0) {
            return;
        }
        long span = (long) tokens * problem.rowStride();
        GpuArray cu = cuSeqlens.computeIfAbsent(problem, p -> session.upload(p.cuSeqlens()));
        ops.attention(
                path,
                tq.array().slice(problem.qOffset(), span - problem.qOffset()),
                tk.array().slice(problem.kOffset(), span - problem.kOffset()),
                tv.array().slice(problem.vOffset(), span - problem.vOffset()),
                o.array(),
                cu,
                problem.batch(),
                problem.maxSeqLen(),
                problem.heads(),
                problem.headDim(),
                problem.rowStride(),
                problem.rowStride(),
                problem.outWidth(),
                problem.scale(),
                problem.causal(),
                queryChunk);
    }

    /** Q, K and V rows of the problem's width, one per token; the output (tokens, heads · head_dim). */
    static void checkAttention(AttentionProblem p, CudaTensor q, CudaTensor k, CudaTensor v, CudaTensor out) {
        if (p.kvHeads() != p.heads()) {
            throw new UnsupportedOperationException("grouped-query attention (" + p.heads() + " query heads, "
                    + p.kvHeads() + " key/value heads) has no CUDA kernel in this build; decoders run on the CPU path");
        }
        if (p.slidingWindow() > 0) {
            throw new UnsupportedOperationException(
                    "sliding-window attention has no CUDA kernel in this build; " + "decoders run on the CPU path");
        }
        int tokens = p.totalTokens();
        for (CudaTensor t : new CudaTensor[] {q, k, v}) {
            if (t.rows() != tokens || t.cols() != p.rowStride()) {
                throw new IllegalArgumentException(
                        "attention: " + t + " does not hold " + tokens + " rows of " + p.rowStride() + " for " + p);
            }
        }
        if (out.rows() != tokens || out.cols() != p.outWidth()) {
            throw new IllegalArgumentException(
                    "attention: output " + out + " is not (" + tokens + ", " + p.outWidth() + ") for " + p);
        }
    }

    /**
     * In fp16, enqueues the count of {@code x}'s non-finite values into the next counter slot
     * (no wait); {@link #download} checks the slots. bf16 and fp32: nothing.
     */
    @Override
    public void store(Tensor x, String what) {
        CudaTensor t = activation(x, "store", what);
        if (dtype != ComputeDtype.FP16 || t.elements() == 0) {
            return;
        }
        int slot = stores.add(what);
        if (StoreChecks.block(slot) == counterBlocks.size()) {
            GpuArray block = session.allocInts(StoreChecks.BLOCK);
            session.zero(block);
            counterBlocks.add(block);
        }
        GpuArray counter = counterBlocks.get(StoreChecks.block(slot)).slice(StoreChecks.offset(slot), 1);
        ops.addNonFiniteCount(t.array(), t.elements(), counter);
    }

    @Override
    public void addRmsNorm(Tensor stream, Tensor delta, Tensor gamma, float eps, Tensor out) {
        throw noKernel("addRmsNorm");
    }

    @Override
    public void headRmsNorm(Tensor x, int colOffset, int heads, int headDim, Tensor gamma, float eps) {
        throw noKernel("headRmsNorm");
    }

    @Override
    public void rope(Tensor x, int colOffset, int heads, int headDim, int[] positions, double[] invFreq) {
        throw noKernel("rope");
    }

    @Override
    public void siluMul(Tensor gateUp, Tensor out) {
        throw noKernel("siluMul");
    }

    @Override
    public void cacheKv(Tensor qkv, int kCol, int vCol, int[] slots, KvBlockPool cache, int layer) {
        throw noKernel("cacheKv");
    }

    @Override
    public void pagedAttention(
            PagedAttentionProblem problem, Tensor q, int qCol, KvBlockPool cache, int layer, Tensor out) {
        throw noKernel("pagedAttention");
    }

    @Override
    public float[] logits(Tensor hidden, int[] rows, Tensor table) {
        throw noKernel("logits");
    }

    @Override
    public float[] tokenLogProbs(Tensor hidden, int[] rows, Tensor table, int[] targets) {
        throw noKernel("tokenLogProbs");
    }

    static UnsupportedOperationException noKernel(String op) {
        return new UnsupportedOperationException(
                op + " has no CUDA kernel in this build; decoders run on the CPU path");
    }

    /** {@code t} as an activation of this pass's kind: a CUDA tensor, row-major (not a stored Linear weight). */
    private static CudaTensor activation(Tensor t, String op, String name) {
        CudaTensor c = CudaTensor.of(t, op, name);
        if (c.outInLayout()) {
            throw new IllegalArgumentException(
                    op + ": " + name + " is a Linear weight stored (out, in), not an activation");
        }
        return c;
    }
}

package dev.attune.kernels.ops;

import dev.attune.kernels.attention.AttentionProblem;
import dev.attune.kernels.attention.PagedAttentionProblem;
import dev.attune.kernels.kv.KvBlockPool;
import dev.attune.kernels.select.ComputeDtype;

/**
 * The op contract every model graph is written against, once: each architecture's forward pass
 * is a sequence of these calls, and each backend (the CPU in fp32, a simulated GPU in its
 * precision, a real GPU) is one implementation. A new backend implements this interface; a new
 * architecture calls it; neither touches the other.
 *
 * <p>Shapes: every tensor is a (rows, cols) row-major matrix; for activations a row is a token
 * of a packed batch (rows of unequal length back to back, see {@link AttentionProblem}). Ops that
 * work on heads address them as column ranges of a row: head {@code h} of a tensor whose heads
 * start at column {@code colOffset} is columns {@code [colOffset + h*headDim, colOffset + (h+1)*headDim)}.
 *
 * <p>Precision: ops read and write tensors in {@link #dtype()} and accumulate in fp32.
 * {@link #store} marks the points where the graph's activations are materialised in the
 * compute dtype (a simulated device rounds there, a real fp16 device checks for overflow
 * there), so that every backend has the same precision as the device it stands for.
 *
 * <p>Lifecycle and threading: one instance serves one forward pass on one thread (its work may
 * be spread over the backend's own threads or stream); activations it allocates live until the
 * pass ends. Weights come from a {@link WeightUploader} of the same backend and dtype.
 *
 * <p>Failure: shapes that do not fit raise {@link IllegalArgumentException} before anything is
 * written; an fp16 overflow at a {@link #store} raises
 * {@link dev.attune.kernels.precision.PrecisionOverflowException} naming the activation, either
 * at the store (the CPU) or, on a backend that checks without waiting for its device (CUDA), at
 * the next {@link #download}, naming the first store of the pass that overflowed. An op the
 * backend has no kernel for raises {@link UnsupportedOperationException} saying so.
 */
public interface TensorOps {

    /** The dtype activations are stored in. */
    ComputeDtype dtype();

    /** The attention path {@link #attention} runs, by its catalogue name. */
    String attentionPath();

    /** A zeroed (rows, cols) activation. */
    Tensor allocate(int rows, int cols);

    /** The tensor's values as fp32, on the host, row-major. */
    float[] download(Tensor t);

    /**
     * Gathers rows of a table: {@code out[r] = table[ids[r]]}, or {@code out[r] += table[ids[r]]}
     * when {@code accumulate} (position and token-type embeddings added to word embeddings).
     */
    void gatherRows(Tensor table, int[] ids, Tensor out, boolean accumulate);

    /** {@code y = epilogue(x · w + bias)}: x (m, k), w (k, n) as uploaded, bias (n) or null, y (m, n). */
    void linear(Tensor x, Tensor w, Tensor bias, Tensor y, Epilogue epilogue);

    /** {@code x = LayerNorm(x + residual) · gamma + beta} over each row, in place; residual may be null. */
    void addLayerNorm(Tensor x, Tensor residual, Tensor gamma, Tensor beta, float eps);

    /**
     * The decoder's residual step: {@code stream += delta} (when delta is not null), then
     * {@code out = stream / sqrt(mean(stream²) + eps) · gamma} over each row.
     */
    void addRmsNorm(Tensor stream, Tensor delta, Tensor gamma, float eps, Tensor out);

    /** RMSNorm of each of {@code heads} heads of each row, in place, with one (headDim) gain shared by the heads. */
    void headRmsNorm(Tensor x, int colOffset, int heads, int headDim, Tensor gamma, float eps);

    /**
     * Rotary position embedding in place on {@code heads} heads of each row, in the "rotate
     * halves" convention: for i in [0, headDim/2), with {@code a = positions[row] · invFreq[i]},
     * {@code (x[i], x[i+half]) = (x[i]·cos a − x[i+half]·sin a, x[i+half]·cos a + x[i]·sin a)}.
     */
    void rope(Tensor x, int colOffset, int heads, int headDim, int[] positions, double[] invFreq);

    /** The gated MLP activation: gateUp (m, 2n) holds gate | up; {@code out[r, i] = silu(gate[r, i]) · up[r, i]}. */
    void siluMul(Tensor gateUp, Tensor out);

    /** Attention of the described batch on this backend's path; q, k and v may be the same tensor. */
    void attention(AttentionProblem problem, Tensor q, Tensor k, Tensor v, Tensor out);

    /**
     * Writes each row's K and V into the paged cache: the {@code kvHeads x headDim} columns of row
     * r from {@code kCol} (keys) and {@code vCol} (values) go to offset {@code slots[r]} of layer
     * {@code layer} ({@link dev.attune.kernels.kv.KvBatch#slots}).
     */
    void cacheKv(Tensor qkv, int kCol, int vCol, int[] slots, KvBlockPool cache, int layer);

    /**
     * Attention of the queries (row t's heads from column {@code qCol} of {@code q}) over layer
     * {@code layer} of the paged cache, on this backend's path, into {@code out} (queries, heads ·
     * headDim).
     */
    void pagedAttention(PagedAttentionProblem problem, Tensor q, int qCol, KvBlockPool cache, int layer, Tensor out);

    /**
     * The next-token logits of chosen rows, {@code hidden[rows[j]] · tableᵀ}, (rows, vocab) fp32 on
     * the host, for the sampling step.
     */
    float[] logits(Tensor hidden, int[] rows, Tensor table);

    /**
     * Log-probabilities of chosen next tokens: for each j, the log-softmax over the vocabulary of
     * {@code hidden[rows[j]] · tableᵀ} at {@code targets[j]}, computed in fp32 from fp32 logits.
     * {@code table} is (vocab, hidden), read by rows (a tied embedding or the LM head).
     * The vocabulary-sized logits never leave the backend.
     */
    float[] tokenLogProbs(Tensor hidden, int[] rows, Tensor table, int[] targets);

    /** Marks {@code x} as stored in the compute dtype after the op that made it; {@code what} names it in errors. */
    void store(Tensor x, String what);
}

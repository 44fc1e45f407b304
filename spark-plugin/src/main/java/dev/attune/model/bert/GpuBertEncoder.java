package dev.attune.model.bert;

import dev.attune.kernels.cuda.CudaBackend;
import dev.attune.kernels.cuda.CudaOps;
import dev.attune.kernels.cuda.CudaSession;
import dev.attune.kernels.cuda.GpuArray;
import dev.attune.kernels.cuda.launch.GemmLaunch;
import dev.attune.kernels.precision.PrecisionOverflowException;
import dev.attune.kernels.select.AttentionChoice;
import dev.attune.kernels.select.ComputeDtype;
import dev.attune.model.config.BertConfig;

import java.util.ArrayList;
import java.util.List;

/**
 * The BERT encoder on a GPU: {@link BertEncoder}'s forward pass, op for op, with the weights
 * resident in device memory in one compute dtype.
 *
 * <p>Weights are uploaded once ({@link #upload}) in the compute dtype and kept until
 * {@link #close}: Linear weights transposed back to PyTorch's (out, in) layout, which the GEMM
 * reads, with the query, key and value projections fused into one (3·hidden, hidden) matrix so one
 * GEMM writes q | k | v side by side per token and attention reads them in place with a row
 * stride of 3·hidden.
 *
 * <p>fp16 ends at 65504: in fp16 every GEMM output (where fp32 accumulators are narrowed) and
 * the final hidden state are checked for non-finite values, and one is a
 * {@link PrecisionOverflowException} naming the op, so the runner re-runs the batch in fp32.
 * bf16 has fp32's range and fp32 is fp32: they are not checked.
 *
 * <p>Threading: {@link #forward} may run concurrently, each call on its own {@link CudaSession}
 * (the weights are only read). Lifecycle: made by the runner once per model and dtype, closed
 * with the runner; the backend must outlive it.
 */
public final class GpuBertEncoder implements AutoCloseable {

    /** One layer's weights on the device; matrices (out, in). */
    private record Layer(GpuArray qkv, GpuArray qkvBias, GpuArray attnOut, GpuArray attnOutBias,
                         GpuArray attnNormGamma, GpuArray attnNormBeta, GpuArray ffnIn, GpuArray ffnInBias,
                         GpuArray ffnOut, GpuArray ffnOutBias, GpuArray ffnNormGamma, GpuArray ffnNormBeta) {
    }

    private final CudaBackend backend;
    private final BertConfig config;
    private final ComputeDtype dtype;
    private final GpuArray word;      // (vocab, hidden)
    private final GpuArray position;  // (positions, hidden)
    private final GpuArray type;      // (types, hidden)
    private final GpuArray embNormGamma;
    private final GpuArray embNormBeta;
    private final List<Layer> layers;
    private final List<GpuArray> owned;
    private final long bytes;

    private GpuBertEncoder(CudaBackend backend, BertConfig config, ComputeDtype dtype, GpuArray[] emb, List<Layer> layers,
                           List<GpuArray> owned) {
        this.backend = backend;
        this.config = config;
        this.dtype = dtype;
        this.word = emb[0];
        this.position = emb[1];
        this.type = emb[2];
        this.embNormGamma = emb[3];
        this.embNormBeta = emb[4];
        this.layers = List.copyOf(layers);
        this.owned = List.copyOf(owned);
        this.bytes = owned.stream().mapToLong(GpuArray::bytes).sum();
    }

    /**
     * Uploads {@code weights} to the backend's device in {@code dtype}. On failure (for example
     * out of memory) whatever was uploaded is released before the exception leaves.
     */
    public static GpuBertEncoder upload(CudaBackend backend, BertConfig config, BertWeights weights, ComputeDtype dtype) {
        int h = config.hiddenSize();
        int inter = config.intermediateSize();
        List<GpuArray> owned = new ArrayList<>();
        try {
            Uploader up = new Uploader(backend, dtype, owned);
            GpuArray[] emb = {up.vector(weights.wordEmbeddings()), up.vector(weights.positionEmbeddings()),
                    up.vector(weights.typeEmbeddings()), up.vector(weights.embNormGamma()), up.vector(weights.embNormBeta())};
            List<Layer> layers = new ArrayList<>(weights.layers().size());
            for (BertLayerWeights l : weights.layers()) {
                layers.add(new Layer(
                        up.linear(l.qkv(), h, 3 * h), up.vector(l.qkvBias()),
                        up.linear(l.attnOut(), h, h), up.vector(l.attnOutBias()),
                        up.vector(l.attnNormGamma()), up.vector(l.attnNormBeta()),
                        up.linear(l.ffnIn(), h, inter), up.vector(l.ffnInBias()),
                        up.linear(l.ffnOut(), inter, h), up.vector(l.ffnOutBias()),
                        up.vector(l.ffnNormGamma()), up.vector(l.ffnNormBeta())));
            }
            return new GpuBertEncoder(backend, config, dtype, emb, layers, owned);
        } catch (RuntimeException | Error e) {
            for (GpuArray a : owned) {
                try {
                    backend.release(a);
                } catch (RuntimeException suppressed) {
                    e.addSuppressed(suppressed);
                }
            }
            throw e;
        }
    }

    /** Uploads host weights, remembering each array so a failed upload can be undone. */
    private record Uploader(CudaBackend backend, ComputeDtype dtype, List<GpuArray> owned) {

        GpuArray vector(float[] host) {
            GpuArray a = backend.resident(host, dtype);
            owned.add(a);
            return a;
        }

        /** A Linear weight held (in, out) on the host, uploaded (out, in). */
        GpuArray linear(float[] inMajor, int in, int out) {
            return vector(transpose(inMajor, in, out));
        }
    }

    /** (rows, cols) row-major to (cols, rows) row-major. */
    static float[] transpose(float[] a, int rows, int cols) {
        if (a.length != rows * cols) {
            throw new IllegalArgumentException("a (" + rows + ", " + cols + ") matrix has " + rows * cols
                    + " elements, not " + a.length);
        }
        float[] t = new float[a.length];
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) {
                t[c * rows + r] = a[r * cols + c];
            }
        }
        return t;
    }

    public ComputeDtype dtype() {
        return dtype;
    }

    /** Device memory the resident weights take. */
    public long residentBytes() {
        return bytes;
    }

    /**
     * Runs the encoder on {@code batch} with the attention path and query chunking of
     * {@code choice} (whose dtype must be this encoder's) and returns the last hidden state as
     * fp32, (tokens, hidden) row-major in the batch's packed order, as {@link BertEncoder#forward}.
     * Activations come from {@code session}'s pool and go back to it when the session closes.
     *
     * @throws IllegalArgumentException a token id, token type or position outside the model's tables
     * @throws PrecisionOverflowException in fp16, a store that left fp16's range, naming the op
     */
    public float[] forward(CudaSession session, TokenBatch batch, AttentionChoice choice) {
        if (choice.dtype() != dtype) {
            throw new IllegalArgumentException("an encoder resident in " + dtype + " cannot run a " + choice.dtype() + " choice");
        }
        int t = batch.tokens();
        int rows = batch.rows();
        int h = config.hiddenSize();
        int inter = config.intermediateSize();
        int heads = config.heads();
        int headDim = config.headDim();
        float eps = (float) config.layerNormEps();
        float scale = (float) (1.0 / Math.sqrt(headDim));
        int maxLen = 0;
        for (int b = 0; b < rows; b++) {
            maxLen = Math.max(maxLen, batch.cuSeqlens()[b + 1] - batch.cuSeqlens()[b]);
        }
        // The embedding kernel gathers rows by id without bounds checks: positionIds checks them.
        int[] positions = batch.positionIds(config);
        CudaOps ops = session.ops();

        GpuArray ids = session.upload(batch.ids());           // (tokens)
        GpuArray typeIds = session.upload(batch.typeIds());   // (tokens)
        GpuArray posIds = session.upload(positions);          // (tokens)
        GpuArray cu = session.upload(batch.cuSeqlens());      // (rows + 1)

        GpuArray x = session.alloc(dtype, (long) t * h);          // (tokens, hidden): the residual stream
        GpuArray qkv = session.alloc(dtype, (long) t * 3 * h);    // (tokens, 3·hidden): q | k | v per token
        GpuArray ctx = session.alloc(dtype, (long) t * h);        // (tokens, heads·head_dim)
        GpuArray attnOut = session.alloc(dtype, (long) t * h);    // (tokens, hidden)
        GpuArray ffn = session.alloc(dtype, (long) t * inter);    // (tokens, intermediate)

        ops.embed(ids, typeIds, posIds, word, position, type, x, t, h);
        ops.addLayerNorm(x, null, embNormGamma, embNormBeta, eps, t, h);

        // Views of the fused projection: (tokens, heads, head_dim) each, row stride 3·hidden.
        long qkvElements = (long) t * 3 * h;
        GpuArray q = qkv.slice(0, qkvElements);
        GpuArray k = qkv.slice(h, qkvElements - h);
        GpuArray v = qkv.slice(2L * h, qkvElements - 2L * h);
        for (Layer layer : layers) {
            ops.gemm(x, layer.qkv(), layer.qkvBias(), qkv, t, 3 * h, h, GemmLaunch.EPILOGUE_NONE);
            checkRange(ops, qkv, qkvElements, "QKV projection");
            ops.attention(choice.path(), q, k, v, ctx, cu, rows, maxLen, heads, headDim, 3 * h, 3 * h, h, scale, false,
                    choice.queryChunk());
            ops.gemm(ctx, layer.attnOut(), layer.attnOutBias(), attnOut, t, h, h, GemmLaunch.EPILOGUE_NONE);
            checkRange(ops, attnOut, (long) t * h, "attention projection");
            // attnOut = LayerNorm(attnOut + x); attnOut becomes the stream, x is free to take the FFN output.
            ops.addLayerNorm(attnOut, x, layer.attnNormGamma(), layer.attnNormBeta(), eps, t, h);

            ops.gemm(attnOut, layer.ffnIn(), layer.ffnInBias(), ffn, t, inter, h, GemmLaunch.EPILOGUE_GELU);
            checkRange(ops, ffn, (long) t * inter, "feed-forward activation");
            ops.gemm(ffn, layer.ffnOut(), layer.ffnOutBias(), x, t, h, inter, GemmLaunch.EPILOGUE_NONE);
            checkRange(ops, x, (long) t * h, "feed-forward output");
            // x = LayerNorm(x + attnOut): the stream is back in x for the next layer.
            ops.addLayerNorm(x, attnOut, layer.ffnNormGamma(), layer.ffnNormBeta(), eps, t, h);
        }
        // Anything that escaped the checks above (a LayerNorm with huge gamma) reaches the output.
        checkRange(ops, x, (long) t * h, "encoder output");
        return session.download(x);
    }

    /**
     * In fp16, counts the non-finite values of a store just made and throws when there are any.
     * Costs one small reduction and one synchronization per check.
     */
    private void checkRange(CudaOps ops, GpuArray a, long n, String what) {
        if (dtype != ComputeDtype.FP16) {
            return;
        }
        long bad = ops.countNonFinite(a, n);
        if (bad > 0) {
            throw new PrecisionOverflowException(what + " holds " + bad + " non-finite values, beyond fp16's range (65504)");
        }
    }

    /** Releases the resident weights. */
    @Override
    public void close() {
        RuntimeException first = null;
        for (GpuArray a : owned) {
            try {
                backend.release(a);
            } catch (RuntimeException e) {
                if (first == null) {
                    first = e;
                } else {
                    first.addSuppressed(e);
                }
            }
        }
        if (first != null) {
            throw first;
        }
    }
}

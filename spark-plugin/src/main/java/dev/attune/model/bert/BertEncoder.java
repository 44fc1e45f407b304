package dev.attune.model.bert;

import dev.attune.kernels.attention.AttentionKernel;
import dev.attune.kernels.attention.AttentionProblem;
import dev.attune.kernels.cpu.CpuThreads;
import dev.attune.kernels.ops.CpuTensorOps;
import dev.attune.kernels.ops.CpuWeights;
import dev.attune.kernels.ops.Epilogue;
import dev.attune.kernels.ops.Tensor;
import dev.attune.kernels.ops.TensorOps;
import dev.attune.kernels.ops.WeightUploader;
import dev.attune.kernels.select.ComputeDtype;
import dev.attune.model.config.BertConfig;
import java.util.ArrayList;
import java.util.List;

/**
 * The BERT-family encoder's forward pass, written once against the op contract
 * ({@link TensorOps}) and run by whichever backend the device has.
 *
 * <p>Reads top to bottom as the model does: embeddings, then per layer fused QKV projection,
 * attention (the backend's chosen path), output projection, residual + LayerNorm, feed-forward
 * with erf GELU, residual + LayerNorm (post-norm, as BERT is). {@code ops.store} marks each
 * activation the device materialises in its dtype: a simulated fp16/bf16 device rounds there (and
 * fp16 overflow raises {@link dev.attune.kernels.precision.PrecisionOverflowException}).
 *
 * <p>Lifecycle and threading: the host weights are immutable; {@link #residentOn} makes them
 * resident once per backend and dtype, and {@link #forward} may run concurrently from several
 * tasks, each with its own {@link TensorOps}.
 */
public final class BertEncoder {

    private final BertConfig config;
    private final BertWeights weights;
    /** The fp32 CPU resident of {@link #forward(TokenBatch, AttentionKernel, CpuThreads)}, packed once on first use. */
    private volatile Resident cpuFp32;

    public BertEncoder(BertConfig config, BertWeights weights) {
        this.config = config;
        this.weights = weights;
    }

    public BertConfig config() {
        return config;
    }

    /** The host weights in fp32, as the files hold them. */
    public BertWeights weights() {
        return weights;
    }

    /** One layer's weights on a backend. */
    private record Layer(
            Tensor qkv,
            Tensor qkvBias,
            Tensor attnOut,
            Tensor attnOutBias,
            Tensor attnNormGamma,
            Tensor attnNormBeta,
            Tensor ffnIn,
            Tensor ffnInBias,
            Tensor ffnOut,
            Tensor ffnOutBias,
            Tensor ffnNormGamma,
            Tensor ffnNormBeta) {}

    /** The encoder's weights resident on one backend in one dtype. */
    public static final class Resident {
        private final ComputeDtype dtype;
        private final Tensor word; // (vocab, hidden)
        private final Tensor position; // (positions, hidden)
        private final Tensor type; // (types, hidden)
        private final Tensor embNormGamma;
        private final Tensor embNormBeta;
        private final List<Layer> layers;

        private Resident(ComputeDtype dtype, Tensor[] emb, List<Layer> layers) {
            this.dtype = dtype;
            this.word = emb[0];
            this.position = emb[1];
            this.type = emb[2];
            this.embNormGamma = emb[3];
            this.embNormBeta = emb[4];
            this.layers = List.copyOf(layers);
        }

        public ComputeDtype dtype() {
            return dtype;
        }
    }

    /** Makes the weights resident through {@code up}, in its dtype. */
    public Resident residentOn(WeightUploader up) {
        int h = config.hiddenSize();
        int inter = config.intermediateSize();
        Tensor[] emb = {
            up.upload("embeddings.word_embeddings", weights.wordEmbeddings(), weights.wordEmbeddings().length / h, h),
            up.upload(
                    "embeddings.position_embeddings",
                    weights.positionEmbeddings(),
                    weights.positionEmbeddings().length / h,
                    h),
            up.upload(
                    "embeddings.token_type_embeddings",
                    weights.typeEmbeddings(),
                    weights.typeEmbeddings().length / h,
                    h),
            up.vector("embeddings.LayerNorm.weight", weights.embNormGamma()),
            up.vector("embeddings.LayerNorm.bias", weights.embNormBeta())
        };
        List<Layer> layers = new ArrayList<>();
        int i = 0;
        for (BertLayerWeights l : weights.layers()) {
            String p = "encoder.layer." + i++ + ".";
            layers.add(new Layer(
                    up.linear(p + "attention.qkv", l.qkv(), h, 3 * h),
                    up.vector(p + "attention.qkv.bias", l.qkvBias()),
                    up.linear(p + "attention.output.dense", l.attnOut(), h, h),
                    up.vector(p + "attention.output.dense.bias", l.attnOutBias()),
                    up.vector(p + "attention.output.LayerNorm.weight", l.attnNormGamma()),
                    up.vector(p + "attention.output.LayerNorm.bias", l.attnNormBeta()),
                    up.linear(p + "intermediate.dense", l.ffnIn(), h, inter),
                    up.vector(p + "intermediate.dense.bias", l.ffnInBias()),
                    up.linear(p + "output.dense", l.ffnOut(), inter, h),
                    up.vector(p + "output.dense.bias", l.ffnOutBias()),
                    up.vector(p + "output.LayerNorm.weight", l.ffnNormGamma()),
                    up.vector(p + "output.LayerNorm.bias", l.ffnNormBeta())));
        }
        return new Resident(up.dtype(), emb, layers);
    }

    /**
     * Runs the encoder and returns the last hidden state, (tokens, hidden), in the batch's packed
     * order, on the backend of {@code ops}; {@code w} must be resident on it in its dtype.
     */
    public Tensor forward(Resident w, TokenBatch batch, TensorOps ops) {
        if (w.dtype != ops.dtype()) {
            throw new IllegalArgumentException("weights resident in " + w.dtype + " for a pass in " + ops.dtype());
        }
        int t = batch.tokens();
        int h = config.hiddenSize();
        int inter = config.intermediateSize();
        float eps = (float) config.layerNormEps();

        // Checks every id, type and position against the model's tables first, naming what is out of range.
        int[] positions = batch.positionIds(config);
        Tensor x = ops.allocate(t, h); // (tokens, hidden)
        ops.gatherRows(w.word, batch.ids(), x, false);
        ops.gatherRows(w.position, positions, x, true);
        ops.gatherRows(w.type, batch.typeIds(), x, true);
        ops.addLayerNorm(x, null, w.embNormGamma, w.embNormBeta, eps);
        ops.store(x, "embeddings");

        AttentionProblem shape = AttentionProblem.fusedQkv(batch.cuSeqlens(), config.heads(), config.headDim(), false);
        Tensor qkv = ops.allocate(t, 3 * h); // (tokens, 3·hidden): q | k | v per token
        Tensor ctx = ops.allocate(t, h); // (tokens, heads·head_dim)
        Tensor proj = ops.allocate(t, h); // (tokens, hidden)
        Tensor ffn = ops.allocate(t, inter); // (tokens, intermediate)
        for (Layer layer : w.layers) {
            ops.linear(x, layer.qkv, layer.qkvBias, qkv, Epilogue.NONE);
            ops.store(qkv, "QKV projection");
            ops.attention(shape, qkv, qkv, qkv, ctx);
            ops.linear(ctx, layer.attnOut, layer.attnOutBias, proj, Epilogue.NONE);
            ops.store(proj, "attention projection");
            // x = LayerNorm(proj + x): the sum is written into proj, then proj becomes the stream.
            ops.addLayerNorm(proj, x, layer.attnNormGamma, layer.attnNormBeta, eps);
            ops.store(proj, "attention LayerNorm");
            Tensor attnOut = proj;

            ops.linear(attnOut, layer.ffnIn, layer.ffnInBias, ffn, Epilogue.GELU_ERF);
            ops.store(ffn, "feed-forward activation");
            ops.linear(ffn, layer.ffnOut, layer.ffnOutBias, x, Epilogue.NONE);
            ops.store(x, "feed-forward output");
            ops.addLayerNorm(x, attnOut, layer.ffnNormGamma, layer.ffnNormBeta, eps);
            ops.store(x, "feed-forward LayerNorm");
            // proj and x swap roles next layer: x is the stream, proj is overwritten.
        }
        return x;
    }

    /**
     * The encoder on the CPU in fp32 with one attention kernel (tests, benchmarks, in-process
     * embedding): the last hidden state. The weights are made resident (packed) on the first call
     * and kept for this encoder's life.
     */
    public float[] forward(TokenBatch batch, AttentionKernel attention, CpuThreads threads) {
        TensorOps ops = new CpuTensorOps(ComputeDtype.FP32, attention, threads);
        return ops.download(forward(cpuResident(), batch, ops));
    }

    private Resident cpuResident() {
        Resident r = cpuFp32;
        if (r == null) {
            synchronized (this) {
                r = cpuFp32;
                if (r == null) {
                    r = residentOn(new CpuWeights(ComputeDtype.FP32));
                    cpuFp32 = r;
                }
            }
        }
        return r;
    }
}

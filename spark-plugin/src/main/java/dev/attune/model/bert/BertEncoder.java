package dev.attune.model.bert;

import dev.attune.kernels.attention.AttentionKernel;
import dev.attune.kernels.attention.AttentionProblem;
import dev.attune.kernels.cpu.CpuGemm;
import dev.attune.kernels.cpu.CpuOps;
import dev.attune.kernels.cpu.CpuThreads;
import dev.attune.kernels.precision.StoredPrecision;
import dev.attune.kernels.select.ComputeDtype;
import dev.attune.model.config.BertConfig;

/**
 * The BERT-family encoder forward pass on the CPU, fp32, over a packed batch.
 *
 * <p>Reads top to bottom as the model does: embeddings, then per layer fused QKV projection,
 * attention (through an {@link AttentionKernel}, so any path can be plugged in), output
 * projection, residual + LayerNorm, feed-forward with erf GELU, residual + LayerNorm (post-norm,
 * as BERT is).
 *
 * <p>Precision: with a compute dtype of fp16 or bf16 (a simulated GPU), the weights are the
 * rounded copies of {@link BertWeights#roundedTo} and every activation the GPU would store is
 * rounded to the dtype after the op that makes it, while products and sums accumulate in fp32, as
 * tensor cores do. fp16 overflow raises {@link dev.attune.kernels.precision.PrecisionOverflowException}.
 *
 * <p>Threading: immutable; {@link #forward} may run concurrently from several tasks, each with
 * its own {@link CpuThreads}; every call allocates its own activations.
 */
public final class BertEncoder {

    private final BertConfig config;
    private final BertWeights weights;
    private final ComputeDtype dtype;

    public BertEncoder(BertConfig config, BertWeights weights) {
        this(config, weights, ComputeDtype.FP32);
    }

    /** An encoder computing in {@code dtype}; {@code weights} must already be rounded to it. */
    public BertEncoder(BertConfig config, BertWeights weights, ComputeDtype dtype) {
        this.config = config;
        this.weights = weights;
        this.dtype = dtype;
    }

    public ComputeDtype dtype() {
        return dtype;
    }

    /** The same model computing in {@code other}, with weights rounded once to it. */
    public BertEncoder in(ComputeDtype other) {
        return other == dtype ? this : new BertEncoder(config, weights.roundedTo(other), other);
    }

    public BertConfig config() {
        return config;
    }

    public BertWeights weights() {
        return weights;
    }

    /**
     * Runs the encoder and returns the last hidden state, (tokens, hidden) row-major, in the
     * batch's packed order.
     */
    public float[] forward(TokenBatch batch, AttentionKernel attention, CpuThreads threads) {
        int t = batch.tokens();
        int h = config.hiddenSize();
        int inter = config.intermediateSize();
        float eps = (float) config.layerNormEps();

        float[] x = embed(batch); // (tokens, hidden)
        CpuOps.addLayerNorm(x, null, t, h, weights.embNormGamma(), weights.embNormBeta(), eps, threads);
        store(x, t * h, "embeddings", threads);

        AttentionProblem shape = AttentionProblem.fusedQkv(batch.cuSeqlens(), config.heads(), config.headDim(), false);
        float[] qkv = new float[t * 3 * h];  // (tokens, 3·hidden): q | k | v per token
        float[] ctx = new float[t * h];      // (tokens, heads·head_dim)
        float[] proj = new float[t * h];     // (tokens, hidden)
        float[] ffn = new float[t * inter];  // (tokens, intermediate)
        for (BertLayerWeights layer : weights.layers()) {
            CpuGemm.matmul(x, t, h, layer.qkv(), 3 * h, layer.qkvBias(), qkv, threads);
            store(qkv, t * 3 * h, "QKV projection", threads);
            attention.forward(shape, qkv, qkv, qkv, ctx, threads);
            CpuGemm.matmul(ctx, t, h, layer.attnOut(), h, layer.attnOutBias(), proj, threads);
            store(proj, t * h, "attention projection", threads);
            // x = LayerNorm(proj + x): the sum is written into proj, then proj becomes the stream.
            CpuOps.addLayerNorm(proj, x, t, h, layer.attnNormGamma(), layer.attnNormBeta(), eps, threads);
            store(proj, t * h, "attention LayerNorm", threads);
            float[] attnOut = proj;

            CpuGemm.matmul(attnOut, t, h, layer.ffnIn(), inter, layer.ffnInBias(), ffn, threads);
            CpuOps.geluErf(ffn, t, inter, threads);
            store(ffn, t * inter, "feed-forward activation", threads);
            CpuGemm.matmul(ffn, t, inter, layer.ffnOut(), h, layer.ffnOutBias(), x, threads);
            store(x, t * h, "feed-forward output", threads);
            CpuOps.addLayerNorm(x, attnOut, t, h, layer.ffnNormGamma(), layer.ffnNormBeta(), eps, threads);
            store(x, t * h, "feed-forward LayerNorm", threads);
        }
        return x;
    }

    /** Rounds an activation to the compute dtype, as the device would store it. */
    private void store(float[] a, int n, String what, CpuThreads threads) {
        StoredPrecision.round(a, n, dtype, what, threads);
    }

    /** word + position + token-type embeddings, (tokens, hidden). */
    private float[] embed(TokenBatch batch) {
        int h = config.hiddenSize();
        int[] positions = batch.positionIds(config);
        float[] x = new float[batch.tokens() * h];
        for (int tok = 0; tok < batch.tokens(); tok++) {
            int id = batch.ids()[tok];
            int type = batch.typeIds()[tok];
            int pos = positions[tok];
            int xo = tok * h;
            for (int i = 0; i < h; i++) {
                x[xo + i] = weights.wordEmbeddings()[id * h + i] + weights.positionEmbeddings()[pos * h + i]
                        + weights.typeEmbeddings()[type * h + i];
            }
        }
        return x;
    }
}

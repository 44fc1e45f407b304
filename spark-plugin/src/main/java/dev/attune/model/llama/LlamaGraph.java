package dev.attune.model.llama;

import dev.attune.kernels.attention.AttentionProblem;
import dev.attune.kernels.attention.PagedAttentionProblem;
import dev.attune.kernels.kv.KvBatch;
import dev.attune.kernels.kv.KvShape;
import dev.attune.kernels.ops.Epilogue;
import dev.attune.kernels.ops.Tensor;
import dev.attune.kernels.ops.TensorOps;
import dev.attune.kernels.ops.WeightUploader;
import dev.attune.kernels.select.ComputeDtype;
import java.util.ArrayList;
import java.util.List;

/**
 * The Llama-family decoder's forward pass (Llama, Mistral, Qwen2, Qwen3), written once against
 * the op contract ({@link TensorOps}) and run by whichever backend the device has.
 *
 * <p>Per layer, pre-norm: RMSNorm → fused q | k | v projection (+ bias on Qwen2) → per-head
 * RMSNorm of q and k (Qwen3) → RoPE on q and k → causal grouped-query attention (K/V heads read
 * in place, Mistral's window) → output projection → residual → RMSNorm → SiLU(gate) · up → down
 * → residual; then the final RMSNorm. Residual adds are fused into the next norm
 * ({@link TensorOps#addRmsNorm}). {@code ops.store} marks the activations a device materialises
 * in its dtype (a simulated fp16/bf16 device rounds there; fp16 overflow raises).
 *
 * <p>Lifecycle and threading: immutable; {@link #residentOn} makes the weights resident once per
 * backend and dtype, and {@link #forward} may run concurrently, each pass with its own ops.
 */
public final class LlamaGraph {

    private final DecoderConfig config;
    private final DecoderWeights weights;
    private final double[] invFreq;

    public LlamaGraph(DecoderConfig config, DecoderWeights weights) {
        this.config = config;
        this.weights = weights;
        this.invFreq = config.ropeScaling().inverseFrequencies(config.headDim(), config.ropeTheta());
    }

    public DecoderConfig config() {
        return config;
    }

    public DecoderWeights weights() {
        return weights;
    }

    /** The shape of this model's KV cache in blocks of {@code blockSize} tokens: K/V heads only (GQA). */
    public KvShape kvShape(int blockSize) {
        return new KvShape(config.layers(), config.kvHeads(), config.headDim(), blockSize);
    }

    /** One layer's weights on a backend. */
    private record Layer(
            Tensor inputNorm,
            Tensor qkv,
            Tensor qkvBias,
            Tensor qNorm,
            Tensor kNorm,
            Tensor o,
            Tensor oBias,
            Tensor postNorm,
            Tensor gateUp,
            Tensor down) {}

    /** The decoder's weights resident on one backend in one dtype. */
    public static final class Resident {
        private final ComputeDtype dtype;
        private final Tensor embed; // (vocab, hidden)
        private final List<Layer> layers;
        private final Tensor finalNorm; // (hidden)
        private final Tensor lmHead; // (vocab, hidden); the embedding table when tied

        private Resident(ComputeDtype dtype, Tensor embed, List<Layer> layers, Tensor finalNorm, Tensor lmHead) {
            this.dtype = dtype;
            this.embed = embed;
            this.layers = List.copyOf(layers);
            this.finalNorm = finalNorm;
            this.lmHead = lmHead;
        }

        public ComputeDtype dtype() {
            return dtype;
        }

        /** The (vocab, hidden) table the logits are read against. */
        public Tensor lmHead() {
            return lmHead;
        }
    }

    /**
     * Makes the weights resident through {@code up}, in its dtype; a tied head is uploaded once,
     * as the output table ({@link WeightUploader#outputTable}) that the embeddings are gathered from.
     */
    public Resident residentOn(WeightUploader up) {
        int h = config.hiddenSize();
        int qkvWidth = config.qDim() + 2 * config.kvDim();
        int inter = config.intermediateSize();
        boolean tied = weights.lmHead() == weights.embed();
        Tensor embed = tied
                ? up.outputTable("model.embed_tokens.weight", weights.embed(), config.vocabSize(), h)
                : up.upload("model.embed_tokens.weight", weights.embed(), config.vocabSize(), h);
        List<Layer> layers = new ArrayList<>(config.layers());
        for (int i = 0; i < config.layers(); i++) {
            DecoderLayerWeights l = weights.layers().get(i);
            String p = "model.layers." + i + ".";
            layers.add(new Layer(
                    up.vector(p + "input_layernorm.weight", l.inputNorm()),
                    up.linear(p + "self_attn.qkv_proj", l.qkv(), h, qkvWidth),
                    up.vector(p + "self_attn.qkv_proj.bias", l.qkvBias()),
                    up.vector(p + "self_attn.q_norm.weight", l.qNorm()),
                    up.vector(p + "self_attn.k_norm.weight", l.kNorm()),
                    up.linear(p + "self_attn.o_proj.weight", l.o(), config.qDim(), h),
                    up.vector(p + "self_attn.o_proj.bias", l.oBias()),
                    up.vector(p + "post_attention_layernorm.weight", l.postNorm()),
                    up.linear(p + "mlp.gate_up_proj", l.gateUp(), h, 2 * inter),
                    up.linear(p + "mlp.down_proj.weight", l.down(), inter, h)));
        }
        Tensor head = tied ? embed : up.outputTable("lm_head.weight", weights.lmHead(), config.vocabSize(), h);
        return new Resident(up.dtype(), embed, layers, up.vector("model.norm.weight", weights.finalNorm()), head);
    }

    /**
     * Runs the decoder over a packed batch (causal within each row; a row that continues a shared
     * prefix row attends to the prefix's keys and values, computed once in the same pass) and returns the final
     * normalised hidden state, (tokens, hidden), whose rows give the next-token logits against
     * {@link Resident#lmHead()}.
     */
    public Tensor forward(Resident w, SequenceBatch batch, TensorOps ops) {
        return forward(w, batch, null, ops);
    }

    /**
     * As {@link #forward(Resident, SequenceBatch, TensorOps)}, with a paged KV cache when {@code
     * cache} is not null: row b holds the new tokens of {@code cache.sequences().get(b)}, at the
     * positions after what it has cached (a prompt's prefill, a chunk of it, or one decoded token);
     * each layer writes the rows' K and V into the cache and attends over the whole cached context.
     * The caller reserves room before and advances the sequences after ({@link KvBatch}).
     */
    public Tensor forward(Resident w, SequenceBatch batch, KvBatch cache, TensorOps ops) {
        if (w.dtype != ops.dtype()) {
            throw new IllegalArgumentException("weights resident in " + w.dtype + " for a pass in " + ops.dtype());
        }
        int t = batch.tokens();
        int hidden = config.hiddenSize();
        int heads = config.heads();
        int kvHeads = config.kvHeads();
        int d = config.headDim();
        int q = config.qDim();
        int kv = config.kvDim();
        float eps = (float) config.rmsNormEps();
        AttentionProblem attention = null;
        PagedAttentionProblem paged = null;
        int[] slots = null;
        if (cache == null) {
            attention = AttentionProblem.fusedGqa(
                    batch.cuSeqlens(), heads, kvHeads, d, config.slidingWindow(), batch.prefixRows());
        } else {
            checkContinues(batch, cache);
            slots = cache.slots(batch.cuSeqlens()); // where each new token's K and V go
            paged = cache.attention(heads, batch.cuSeqlens(), (float) (1.0 / Math.sqrt(d)), config.slidingWindow());
        }

        Tensor x = ops.allocate(t, hidden); // (tokens, hidden): the residual stream
        ops.gatherRows(w.embed, batch.ids(), x, false);
        Tensor h = ops.allocate(t, hidden); // (tokens, hidden): normalised input of a block
        Tensor qkv = ops.allocate(t, q + 2 * kv); // (tokens, heads·d | kv_heads·d | kv_heads·d)
        Tensor ctx = ops.allocate(t, q); // (tokens, heads·d)
        Tensor delta = ops.allocate(t, hidden); // (tokens, hidden): what a block adds to the stream
        Tensor gateUp = ops.allocate(t, 2 * config.intermediateSize()); // (tokens, 2·intermediate)
        Tensor act = ops.allocate(t, config.intermediateSize()); // (tokens, intermediate)
        boolean pending = false; // delta holds the previous MLP's output
        for (int li = 0; li < w.layers.size(); li++) {
            Layer layer = w.layers.get(li);
            ops.addRmsNorm(x, pending ? delta : null, layer.inputNorm, eps, h);
            ops.store(x, "residual stream");
            ops.store(h, "attention RMSNorm");

            ops.linear(h, layer.qkv, layer.qkvBias, qkv, Epilogue.NONE);
            ops.store(qkv, "QKV projection");
            if (layer.qNorm != null) {
                ops.headRmsNorm(qkv, 0, heads, d, layer.qNorm, eps); // q heads
                ops.headRmsNorm(qkv, q, kvHeads, d, layer.kNorm, eps); // k heads
            }
            ops.rope(qkv, 0, heads, d, batch.positions(), invFreq);
            ops.rope(qkv, q, kvHeads, d, batch.positions(), invFreq);
            ops.store(qkv, "q and k after RoPE");
            if (cache == null) {
                ops.attention(attention, qkv, qkv, qkv, ctx);
            } else {
                ops.cacheKv(qkv, q, q + kv, slots, cache.pool(), li); // (tokens, kv_heads·d) each, into their slots
                ops.pagedAttention(paged, qkv, 0, cache.pool(), li, ctx); // queries over the cached context
            }
            ops.linear(ctx, layer.o, layer.oBias, delta, Epilogue.NONE);
            ops.store(delta, "attention output projection");

            ops.addRmsNorm(x, delta, layer.postNorm, eps, h);
            ops.store(x, "residual stream");
            ops.store(h, "MLP RMSNorm");
            ops.linear(h, layer.gateUp, null, gateUp, Epilogue.NONE);
            ops.store(gateUp, "gate and up projections");
            ops.siluMul(gateUp, act);
            ops.store(act, "SiLU(gate) · up");
            ops.linear(act, layer.down, null, delta, Epilogue.NONE);
            ops.store(delta, "MLP down projection");
            pending = true;
        }
        ops.addRmsNorm(x, pending ? delta : null, w.finalNorm, eps, h);
        ops.store(h, "final RMSNorm");
        return h;
    }

    /** A cached pass's rows must be whole new tokens that continue their sequences. */
    private void checkContinues(SequenceBatch batch, KvBatch cache) {
        if (batch.prefixRows() != null) {
            throw new IllegalArgumentException(
                    "a pass over a KV cache takes no prefix rows (the cache holds the prefix)");
        }
        if (!cache.pool().shape().equals(kvShape(cache.pool().shape().blockSize()))) {
            throw new IllegalArgumentException("KV cache " + cache.pool().shape() + " does not fit " + config.layers()
                    + " layers of " + config.kvHeads() + " K/V heads of " + config.headDim());
        }
        int[] cu = batch.cuSeqlens();
        for (int b = 0; b < batch.rows(); b++) {
            int cached = b < cache.sequences().size() ? cache.sequences().get(b).length() : -1;
            for (int t = cu[b]; t < cu[b + 1]; t++) {
                if (batch.positions()[t] != cached + t - cu[b]) {
                    throw new IllegalArgumentException("row " + b + " token " + (t - cu[b]) + " is at position "
                            + batch.positions()[t] + " but its sequence has " + cached + " tokens cached");
                }
            }
        }
    }
}

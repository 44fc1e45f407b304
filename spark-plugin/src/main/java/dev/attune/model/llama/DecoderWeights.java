package dev.attune.model.llama;

import dev.attune.model.ModelFormatException;
import dev.attune.model.safetensors.WeightStore;
import java.util.ArrayList;
import java.util.List;

/**
 * A Llama-family checkpoint's weights on the host, fp32, in the layouts the op contract takes:
 * Linear weights input-major (in, out) with q/k/v and gate/up fused side by side, tables
 * (entries, hidden).
 *
 * <p>Read from the Hugging Face tensor names ({@code model.layers.N.self_attn.q_proj.weight},
 * ...), each shape checked against the config, whatever the stored dtype (F32, F16, BF16) and
 * however the files are sharded. A missing tensor or a wrong shape is a
 * {@link ModelFormatException} naming the tensor.
 *
 * @param embed     (vocab, hidden)
 * @param layers    per layer
 * @param finalNorm (hidden)
 * @param lmHead    (vocab, hidden), the embedding table itself when tied
 */
public record DecoderWeights(float[] embed, List<DecoderLayerWeights> layers, float[] finalNorm, float[] lmHead) {

    public DecoderWeights {
        layers = List.copyOf(layers);
    }

    /** Number of distinct weights (a tied head counted once). */
    public long parameters() {
        long n = embed.length + finalNorm.length + (lmHead == embed ? 0 : lmHead.length);
        for (DecoderLayerWeights l : layers) {
            n += l.inputNorm().length
                    + l.qkv().length
                    + len(l.qkvBias())
                    + len(l.qNorm())
                    + len(l.kNorm())
                    + l.o().length
                    + len(l.oBias())
                    + l.postNorm().length
                    + l.gateUp().length
                    + l.down().length;
        }
        return n;
    }

    private static int len(float[] a) {
        return a == null ? 0 : a.length;
    }

    public static DecoderWeights load(WeightStore store, DecoderConfig c) {
        int h = c.hiddenSize();
        int q = c.qDim();
        int kv = c.kvDim();
        int inter = c.intermediateSize();
        float[] embed = store.floats("model.embed_tokens.weight", c.vocabSize(), h);
        List<DecoderLayerWeights> layers = new ArrayList<>(c.layers());
        for (int i = 0; i < c.layers(); i++) {
            String p = "model.layers." + i + ".";
            String a = p + "self_attn.";
            // HF Linear weights are (out, in): each is transposed once here into the fused (in, out) matrix.
            float[] qkv = new float[h * (q + 2 * kv)];
            int w = q + 2 * kv;
            transposeInto(store.floats(a + "q_proj.weight", q, h), q, h, qkv, w, 0);
            transposeInto(store.floats(a + "k_proj.weight", kv, h), kv, h, qkv, w, q);
            transposeInto(store.floats(a + "v_proj.weight", kv, h), kv, h, qkv, w, q + kv);
            float[] qkvBias = null;
            if (c.qkvBias()) {
                qkvBias = new float[w];
                System.arraycopy(store.floats(a + "q_proj.bias", q), 0, qkvBias, 0, q);
                System.arraycopy(store.floats(a + "k_proj.bias", kv), 0, qkvBias, q, kv);
                System.arraycopy(store.floats(a + "v_proj.bias", kv), 0, qkvBias, q + kv, kv);
            }
            float[] qNorm = c.qkNorm() ? store.floats(a + "q_norm.weight", c.headDim()) : null;
            float[] kNorm = c.qkNorm() ? store.floats(a + "k_norm.weight", c.headDim()) : null;
            float[] o = new float[q * h];
            transposeInto(store.floats(a + "o_proj.weight", h, q), h, q, o, h, 0);
            float[] oBias = c.outputBias() ? store.floats(a + "o_proj.bias", h) : null;
            float[] gateUp = new float[h * 2 * inter];
            transposeInto(store.floats(p + "mlp.gate_proj.weight", inter, h), inter, h, gateUp, 2 * inter, 0);
            transposeInto(store.floats(p + "mlp.up_proj.weight", inter, h), inter, h, gateUp, 2 * inter, inter);
            float[] down = new float[inter * h];
            transposeInto(store.floats(p + "mlp.down_proj.weight", h, inter), h, inter, down, h, 0);
            layers.add(new DecoderLayerWeights(
                    store.floats(p + "input_layernorm.weight", h),
                    qkv,
                    qkvBias,
                    qNorm,
                    kNorm,
                    o,
                    oBias,
                    store.floats(p + "post_attention_layernorm.weight", h),
                    gateUp,
                    down));
        }
        float[] norm = store.floats("model.norm.weight", h);
        float[] head;
        if (c.tieWordEmbeddings()) {
            head = embed;
        } else if (store.contains("lm_head.weight")) {
            head = store.floats("lm_head.weight", c.vocabSize(), h);
        } else {
            throw new ModelFormatException(store.directory() + ": the model has no tensor named 'lm_head.weight' and "
                    + "config.json does not set tie_word_embeddings");
        }
        return new DecoderWeights(embed, layers, norm, head);
    }

    /**
     * Writes {@code src}, an (out, in) matrix, transposed into columns {@code [col, col + out)} of
     * {@code dst}, an (in, dstCols) matrix.
     */
    private static void transposeInto(float[] src, int out, int in, float[] dst, int dstCols, int col) {
        for (int o = 0; o < out; o++) {
            int s = o * in;
            for (int i = 0; i < in; i++) {
                dst[i * dstCols + col + o] = src[s + i];
            }
        }
    }
}

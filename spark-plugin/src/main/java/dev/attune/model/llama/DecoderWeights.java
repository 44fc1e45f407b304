package dev.attune.model.llama;

import dev.attune.kernels.cpu.CpuGemm;
import dev.attune.kernels.ops.WeightData;
import dev.attune.model.ModelFormatException;
import dev.attune.model.safetensors.WeightStore;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * A Llama-family checkpoint's weights on the host, in the layouts the op contract takes: Linear
 * weights input-major (in, out) with q/k/v and gate/up fused side by side, tables (entries,
 * hidden). Matrices keep a BF16 checkpoint's precision ({@link WeightData.Bf16}: half the memory
 * of fp32, values exact) and are fp32 otherwise (F16 widened); norms and biases are fp32. Linear
 * weights are held packed for the CPU GEMM ({@link WeightData.Panels}), which reads them in
 * place, so a CPU executor holds one copy of the layers; another backend unpacks them as it
 * uploads.
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
public record DecoderWeights(WeightData embed, List<DecoderLayerWeights> layers, float[] finalNorm, WeightData lmHead) {

    public DecoderWeights {
        layers = List.copyOf(layers);
    }

    /** Number of distinct weights (a tied head counted once). */
    public long parameters() {
        long n = (long) embed.length() + finalNorm.length + (lmHead == embed ? 0 : lmHead.length());
        for (DecoderLayerWeights l : layers) {
            n += l.inputNorm().length
                    + (long) l.qkv().length()
                    + len(l.qkvBias())
                    + len(l.qNorm())
                    + len(l.kNorm())
                    + l.o().length()
                    + len(l.oBias())
                    + l.postNorm().length
                    + l.gateUp().length()
                    + l.down().length();
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
        WeightData embed = store.matrix("model.embed_tokens.weight", c.vocabSize(), h);
        List<DecoderLayerWeights> layers = new ArrayList<>(c.layers());
        for (int i = 0; i < c.layers(); i++) {
            String p = "model.layers." + i + ".";
            String a = p + "self_attn.";
            // HF Linear weights are (out, in): each is packed once here as columns of a fused input-major matrix.
            int w = q + 2 * kv;
            WeightData qkv = fused(
                    h,
                    store.matrix(a + "q_proj.weight", q, h),
                    store.matrix(a + "k_proj.weight", kv, h),
                    store.matrix(a + "v_proj.weight", kv, h));
            float[] qkvBias = null;
            if (c.qkvBias()) {
                qkvBias = new float[w];
                System.arraycopy(store.floats(a + "q_proj.bias", q), 0, qkvBias, 0, q);
                System.arraycopy(store.floats(a + "k_proj.bias", kv), 0, qkvBias, q, kv);
                System.arraycopy(store.floats(a + "v_proj.bias", kv), 0, qkvBias, q + kv, kv);
            }
            float[] qNorm = c.qkNorm() ? store.floats(a + "q_norm.weight", c.headDim()) : null;
            float[] kNorm = c.qkNorm() ? store.floats(a + "k_norm.weight", c.headDim()) : null;
            WeightData o = fused(q, store.matrix(a + "o_proj.weight", h, q));
            float[] oBias = c.outputBias() ? store.floats(a + "o_proj.bias", h) : null;
            WeightData gateUp = fused(
                    h,
                    store.matrix(p + "mlp.gate_proj.weight", inter, h),
                    store.matrix(p + "mlp.up_proj.weight", inter, h));
            WeightData down = fused(inter, store.matrix(p + "mlp.down_proj.weight", h, inter));
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
        WeightData head;
        if (c.tieWordEmbeddings()) {
            head = embed;
        } else if (store.contains("lm_head.weight")) {
            head = store.matrix("lm_head.weight", c.vocabSize(), h);
        } else {
            throw new ModelFormatException(store.directory() + ": the model has no tensor named 'lm_head.weight' and "
                    + "config.json does not set tie_word_embeddings");
        }
        return new DecoderWeights(embed, layers, norm, head);
    }

    /**
     * The (in, Σ out) input-major matrix whose columns are the parts' (HF Linear weights, each
     * (out, in)) rows side by side, in bf16 when every part is bf16, else in fp32, packed for the
     * CPU GEMM in one pass.
     */
    private static WeightData fused(int in, WeightData... parts) {
        if (Arrays.stream(parts).allMatch(p -> p instanceof WeightData.Bf16)) {
            short[][] bits =
                    Arrays.stream(parts).map(p -> ((WeightData.Bf16) p).bits()).toArray(short[][]::new);
            return new WeightData.Panels(CpuGemm.packColumnsBf16(bits, in));
        }
        float[][] values = Arrays.stream(parts).map(WeightData::toFloats).toArray(float[][]::new);
        return new WeightData.Panels(CpuGemm.packColumns(values, in));
    }
}

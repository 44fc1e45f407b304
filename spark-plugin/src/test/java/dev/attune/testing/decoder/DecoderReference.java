package dev.attune.testing.decoder;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * An independent float64 forward pass of Hugging Face's {@code LlamaForCausalLM},
 * {@code MistralForCausalLM}, {@code Qwen2ForCausalLM} and {@code Qwen3ForCausalLM}, for tests.
 *
 * <p>It shares no code with Attune's model or kernel classes: it parses {@code config.json} itself
 * and reads weights with {@link ReferenceSafetensors}, and every operation is a plain loop in
 * double precision written from the HF modeling code, top to bottom, without caches or batching.
 * It is slow but exact enough that any difference from a product forward pass is the product's
 * rounding or a bug.
 *
 * <p>Math per layer (x is the residual stream, (tokens, hidden)):
 * {@code h = rmsnorm(x) * w_in; q,k,v = h W^T (+ b for Qwen2); Qwen3: per-head rmsnorm of q and k;
 * RoPE (rotate_half); causal (and Mistral sliding-window) softmax(q k^T / sqrt(head_dim)) v with
 * query head h reading KV head h / (heads / kv_heads); x += o_proj; h = rmsnorm(x) * w_post;
 * x += down(silu(gate h) * up h)}; then {@code logits = rmsnorm(x) * w_norm · lm_head^T}
 * ({@code embed_tokens} when tied).
 *
 * <p>Threading: immutable after {@link #load}; calls may run concurrently.
 */
public final class DecoderReference {

    /** The fields of {@code config.json} the forward pass reads. */
    public record Config(
            String modelType,
            int hidden,
            int layers,
            int heads,
            int kvHeads,
            int headDim,
            int intermediate,
            int vocab,
            double eps,
            double ropeTheta,
            JsonNode ropeScaling,
            boolean tied,
            int slidingWindow,
            boolean qkvBias,
            boolean oBias,
            boolean qkNorm) {}

    private record Layer(
            double[] inNorm,
            double[] wq,
            double[] bq,
            double[] wk,
            double[] bk,
            double[] wv,
            double[] bv,
            double[] wo,
            double[] bo,
            double[] qNorm,
            double[] kNorm,
            double[] postNorm,
            double[] gate,
            double[] up,
            double[] down) {}

    private final Config c;
    private final double[] embed; // (vocab, hidden)
    private final Layer[] layers;
    private final double[] norm; // (hidden)
    private final double[] lmHead; // (vocab, hidden)
    private final double[] invFreq; // (head_dim / 2)

    private DecoderReference(Config c, double[] embed, Layer[] layers, double[] norm, double[] lmHead) {
        this.c = c;
        this.embed = embed;
        this.layers = layers;
        this.norm = norm;
        this.lmHead = lmHead;
        this.invFreq = invFreq(c.headDim(), c.ropeTheta(), c.ropeScaling());
    }

    public Config config() {
        return c;
    }

    // ---------------------------------------------------------------------------------------------
    // Loading

    public static DecoderReference load(Path dir) {
        Config c = readConfig(dir);
        ReferenceSafetensors w = ReferenceSafetensors.open(dir);
        int h = c.hidden();
        int q = c.heads() * c.headDim();
        int kv = c.kvHeads() * c.headDim();
        int f = c.intermediate();
        double[] embed = tensor(w, "model.embed_tokens.weight", c.vocab(), h);
        Layer[] layers = new Layer[c.layers()];
        for (int i = 0; i < layers.length; i++) {
            String p = "model.layers." + i + ".";
            String a = p + "self_attn.";
            layers[i] = new Layer(
                    tensor(w, p + "input_layernorm.weight", h),
                    tensor(w, a + "q_proj.weight", q, h),
                    c.qkvBias() ? tensor(w, a + "q_proj.bias", q) : null,
                    tensor(w, a + "k_proj.weight", kv, h),
                    c.qkvBias() ? tensor(w, a + "k_proj.bias", kv) : null,
                    tensor(w, a + "v_proj.weight", kv, h),
                    c.qkvBias() ? tensor(w, a + "v_proj.bias", kv) : null,
                    tensor(w, a + "o_proj.weight", h, q),
                    c.oBias() ? tensor(w, a + "o_proj.bias", h) : null,
                    c.qkNorm() ? tensor(w, a + "q_norm.weight", c.headDim()) : null,
                    c.qkNorm() ? tensor(w, a + "k_norm.weight", c.headDim()) : null,
                    tensor(w, p + "post_attention_layernorm.weight", h),
                    tensor(w, p + "mlp.gate_proj.weight", f, h),
                    tensor(w, p + "mlp.up_proj.weight", f, h),
                    tensor(w, p + "mlp.down_proj.weight", h, f));
        }
        double[] norm = tensor(w, "model.norm.weight", h);
        // HF ties by sharing the module, so a tied checkpoint has no lm_head.weight to read.
        double[] lmHead = c.tied() ? embed : tensor(w, "lm_head.weight", c.vocab(), h);
        return new DecoderReference(c, embed, layers, norm, lmHead);
    }

    static Config readConfig(Path dir) {
        JsonNode j;
        try {
            j = new ObjectMapper().readTree(dir.resolve("config.json").toFile());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        String type = j.path("model_type").asText();
        if (!type.equals("llama") && !type.equals("mistral") && !type.equals("qwen2") && !type.equals("qwen3")) {
            throw new IllegalArgumentException("model_type " + type + " is not a decoder the reference knows");
        }
        if (!j.path("hidden_act").asText("silu").equals("silu")) {
            throw new IllegalArgumentException("hidden_act " + j.get("hidden_act") + " is not silu");
        }
        if (j.path("mlp_bias").asBoolean(false)) {
            throw new IllegalArgumentException("mlp_bias true is not supported by the reference");
        }
        int hidden = j.get("hidden_size").asInt();
        int heads = j.get("num_attention_heads").asInt();
        // Defaults as the HF config classes have them.
        int kvHeads = j.path("num_key_value_heads").isNumber()
                ? j.get("num_key_value_heads").asInt()
                : heads;
        int headDim =
                j.path("head_dim").isNumber() ? j.get("head_dim").asInt() : type.equals("qwen3") ? 128 : hidden / heads;
        int window = 0;
        if (type.equals("mistral") && j.path("sliding_window").isNumber()) {
            window = j.get("sliding_window").asInt();
        }
        if (type.startsWith("qwen") && j.path("use_sliding_window").asBoolean(false)) {
            throw new IllegalArgumentException("use_sliding_window true is not supported by the reference");
        }
        boolean attentionBias = j.path("attention_bias").asBoolean(false);
        boolean qkvBias = type.equals("qwen2") || ((type.equals("llama") || type.equals("qwen3")) && attentionBias);
        boolean oBias = (type.equals("llama") || type.equals("qwen3")) && attentionBias;
        JsonNode scaling = j.path("rope_scaling").isObject() ? j.get("rope_scaling") : null;
        return new Config(
                type,
                hidden,
                j.get("num_hidden_layers").asInt(),
                heads,
                kvHeads,
                headDim,
                j.get("intermediate_size").asInt(),
                j.get("vocab_size").asInt(),
                j.path("rms_norm_eps").asDouble(1e-6),
                j.path("rope_theta").asDouble(10000),
                scaling,
                j.path("tie_word_embeddings").asBoolean(false),
                window,
                qkvBias,
                oBias,
                type.equals("qwen3"));
    }

    private static double[] tensor(ReferenceSafetensors w, String name, long... shape) {
        ReferenceSafetensors.Tensor t = w.tensor(name);
        if (!Arrays.equals(t.shape(), shape)) {
            throw new IllegalArgumentException(
                    name + " has shape " + Arrays.toString(t.shape()) + ", expected " + Arrays.toString(shape));
        }
        return t.values();
    }

    // ---------------------------------------------------------------------------------------------
    // RoPE

    /**
     * HF's inverse frequencies: {@code 1 / theta^(2i / head_dim)} for i in [0, head_dim/2), then
     * the scaling of {@code rope_scaling} (none, "default", "linear", "llama3"; others throw).
     */
    public static double[] invFreq(int headDim, double theta, JsonNode scaling) {
        double[] f = new double[headDim / 2];
        for (int i = 0; i < f.length; i++) {
            f[i] = 1.0 / Math.pow(theta, (2.0 * i) / headDim);
        }
        if (scaling == null) {
            return f;
        }
        String type = scaling.has("rope_type")
                ? scaling.get("rope_type").asText()
                : scaling.path("type").asText();
        switch (type) {
            case "default" -> {}
            case "linear" -> {
                double factor = scaling.get("factor").asDouble();
                for (int i = 0; i < f.length; i++) {
                    f[i] /= factor;
                }
            }
            case "llama3" -> {
                // transformers' _compute_llama3_parameters.
                double factor = scaling.get("factor").asDouble();
                double low = scaling.get("low_freq_factor").asDouble();
                double high = scaling.get("high_freq_factor").asDouble();
                double oldCtx = scaling.get("original_max_position_embeddings").asDouble();
                double lowFreqWavelen = oldCtx / low;
                double highFreqWavelen = oldCtx / high;
                for (int i = 0; i < f.length; i++) {
                    double wavelen = 2 * Math.PI / f[i];
                    if (wavelen > lowFreqWavelen) {
                        f[i] = f[i] / factor;
                    } else if (wavelen >= highFreqWavelen) {
                        double smooth = (oldCtx / wavelen - low) / (high - low);
                        f[i] = (1 - smooth) * f[i] / factor + smooth * f[i];
                    }
                    // wavelen < highFreqWavelen: unchanged
                }
            }
            default ->
                throw new IllegalArgumentException(
                        "rope_scaling rope_type '" + type + "' is not supported by the reference");
        }
        return f;
    }

    /**
     * Rotates one head {@code x[off, off + d)} in place for position {@code pos}, HF style:
     * {@code x' = x cos(emb) + rotate_half(x) sin(emb)}, {@code emb = concat(pos*invFreq, pos*invFreq)},
     * {@code rotate_half(x) = concat(-x[d/2:], x[:d/2])}.
     */
    public static void rope(double[] x, int off, int d, double pos, double[] invFreq) {
        double[] emb = new double[d];
        for (int i = 0; i < d / 2; i++) {
            emb[i] = pos * invFreq[i];
            emb[i + d / 2] = pos * invFreq[i];
        }
        double[] rotated = new double[d]; // rotate_half(x)
        for (int i = 0; i < d / 2; i++) {
            rotated[i] = -x[off + d / 2 + i];
            rotated[i + d / 2] = x[off + i];
        }
        for (int i = 0; i < d; i++) {
            x[off + i] = x[off + i] * Math.cos(emb[i]) + rotated[i] * Math.sin(emb[i]);
        }
    }

    // ---------------------------------------------------------------------------------------------
    // Forward

    /** Logits (tokens, vocab) for {@code ids} at positions 0, 1, ... */
    public double[][] logits(int[] ids) {
        return logits(ids, 0);
    }

    /** Logits (tokens, vocab) for {@code ids} at positions {@code firstPosition}, {@code firstPosition + 1}, ... */
    public double[][] logits(int[] ids, int firstPosition) {
        int n = ids.length;
        int hd = c.hidden();
        // x = embed_tokens[ids]                                         // (tokens, hidden)
        double[][] x = new double[n][];
        for (int t = 0; t < n; t++) {
            if (ids[t] < 0 || ids[t] >= c.vocab()) {
                throw new IllegalArgumentException(
                        "token id " + ids[t] + " at " + t + " outside [0, " + c.vocab() + ")");
            }
            x[t] = Arrays.copyOfRange(embed, ids[t] * hd, (ids[t] + 1) * hd);
        }
        for (Layer l : layers) {
            double[][] h = new double[n][];
            for (int t = 0; t < n; t++) {
                h[t] = rmsNorm(x[t], l.inNorm(), c.eps()); // (hidden)
            }
            double[][] attn = attention(l, h, firstPosition); // (tokens, hidden)
            for (int t = 0; t < n; t++) {
                add(x[t], attn[t]);
            }
            for (int t = 0; t < n; t++) {
                double[] g = rmsNorm(x[t], l.postNorm(), c.eps()); // (hidden)
                double[] gate = linear(l.gate(), null, g, c.intermediate()); // (inter)
                double[] up = linear(l.up(), null, g, c.intermediate()); // (inter)
                for (int i = 0; i < gate.length; i++) {
                    gate[i] = silu(gate[i]) * up[i];
                }
                add(x[t], linear(l.down(), null, gate, hd)); // (hidden)
            }
        }
        double[][] logits = new double[n][];
        for (int t = 0; t < n; t++) {
            logits[t] = linear(lmHead, null, rmsNorm(x[t], norm, c.eps()), c.vocab()); // (vocab)
        }
        return logits;
    }

    /** Self-attention of one layer on the normalised input {@code h} (tokens, hidden). */
    private double[][] attention(Layer l, double[][] h, int firstPosition) {
        int n = h.length;
        int d = c.headDim();
        int heads = c.heads();
        int kvHeads = c.kvHeads();
        int group = heads / kvHeads;
        double[][] q = new double[n][]; // (tokens, heads * head_dim)
        double[][] k = new double[n][]; // (tokens, kv_heads * head_dim)
        double[][] v = new double[n][]; // (tokens, kv_heads * head_dim)
        for (int t = 0; t < n; t++) {
            q[t] = linear(l.wq(), l.bq(), h[t], heads * d);
            k[t] = linear(l.wk(), l.bk(), h[t], kvHeads * d);
            v[t] = linear(l.wv(), l.bv(), h[t], kvHeads * d);
            if (c.qkNorm()) {
                // Qwen3: RMSNorm over each head's head_dim values, before RoPE.
                for (int hq = 0; hq < heads; hq++) {
                    normHead(q[t], hq * d, d, l.qNorm());
                }
                for (int hk = 0; hk < kvHeads; hk++) {
                    normHead(k[t], hk * d, d, l.kNorm());
                }
            }
            for (int hq = 0; hq < heads; hq++) {
                rope(q[t], hq * d, d, firstPosition + t, invFreq);
            }
            for (int hk = 0; hk < kvHeads; hk++) {
                rope(k[t], hk * d, d, firstPosition + t, invFreq);
            }
        }
        double scale = 1 / Math.sqrt(d);
        double[][] out = new double[n][heads * d]; // (tokens, heads * head_dim)
        for (int i = 0; i < n; i++) {
            for (int hq = 0; hq < heads; hq++) {
                int hk = hq / group; // GQA: query head hq reads KV head hq / (heads / kv_heads)
                // Keys j <= i (causal); with a window W, only i - j < W.
                int first = c.slidingWindow() > 0 ? Math.max(0, i - c.slidingWindow() + 1) : 0;
                double[] scores = new double[i + 1 - first];
                double max = Double.NEGATIVE_INFINITY;
                for (int j = first; j <= i; j++) {
                    double s = 0;
                    for (int e = 0; e < d; e++) {
                        s += q[i][hq * d + e] * k[j][hk * d + e];
                    }
                    scores[j - first] = s * scale;
                    max = Math.max(max, scores[j - first]);
                }
                double sum = 0;
                for (int j = 0; j < scores.length; j++) {
                    scores[j] = Math.exp(scores[j] - max);
                    sum += scores[j];
                }
                for (int j = first; j <= i; j++) {
                    double p = scores[j - first] / sum;
                    for (int e = 0; e < d; e++) {
                        out[i][hq * d + e] += p * v[j][hk * d + e];
                    }
                }
            }
        }
        double[][] o = new double[n][];
        for (int t = 0; t < n; t++) {
            o[t] = linear(l.wo(), l.bo(), out[t], c.hidden()); // (hidden)
        }
        return o;
    }

    /**
     * Log-probabilities of each token given the ones before it: element t (t >= 1) is
     * {@code log_softmax(logits[t-1])[ids[t]]}; element 0 is NaN (the first token is not scored).
     */
    public double[] tokenLogprobs(int[] ids) {
        return tokenLogprobs(ids, 1);
    }

    /** As {@link #tokenLogprobs(int[])}, with NaN for every t below {@code max(1, firstScored)}. */
    public double[] tokenLogprobs(int[] ids, int firstScored) {
        double[][] logits = logits(ids);
        double[] out = new double[ids.length];
        Arrays.fill(out, Double.NaN);
        for (int t = Math.max(1, firstScored); t < ids.length; t++) {
            out[t] = logSoftmax(logits[t - 1])[ids[t]];
        }
        return out;
    }

    // ---------------------------------------------------------------------------------------------
    // Small operations

    /** {@code log_softmax(z)}, shifted by the maximum for stability. */
    public static double[] logSoftmax(double[] z) {
        double max = Double.NEGATIVE_INFINITY;
        for (double v : z) {
            max = Math.max(max, v);
        }
        double sum = 0;
        for (double v : z) {
            sum += Math.exp(v - max);
        }
        double lse = max + Math.log(sum);
        double[] out = new double[z.length];
        for (int i = 0; i < z.length; i++) {
            out[i] = z[i] - lse;
        }
        return out;
    }

    /** {@code x / sqrt(mean(x^2) + eps) * w}. */
    static double[] rmsNorm(double[] x, double[] w, double eps) {
        double ss = 0;
        for (double v : x) {
            ss += v * v;
        }
        double r = 1 / Math.sqrt(ss / x.length + eps);
        double[] out = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            out[i] = x[i] * r * w[i];
        }
        return out;
    }

    private void normHead(double[] x, int off, int d, double[] w) {
        double[] head = rmsNorm(Arrays.copyOfRange(x, off, off + d), w, c.eps());
        System.arraycopy(head, 0, x, off, d);
    }

    /** {@code W x (+ b)} for W stored (out, in) row-major, as PyTorch's Linear does. */
    private static double[] linear(double[] w, double[] b, double[] x, int out) {
        int in = x.length;
        double[] y = new double[out];
        for (int o = 0; o < out; o++) {
            double s = b == null ? 0 : b[o];
            int row = o * in;
            for (int i = 0; i < in; i++) {
                s += w[row + i] * x[i];
            }
            y[o] = s;
        }
        return y;
    }

    private static double silu(double z) {
        return z / (1 + Math.exp(-z));
    }

    private static void add(double[] x, double[] y) {
        for (int i = 0; i < x.length; i++) {
            x[i] += y[i];
        }
    }
}

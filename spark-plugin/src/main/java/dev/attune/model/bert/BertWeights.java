package dev.attune.model.bert;

import dev.attune.kernels.precision.StoredPrecision;
import dev.attune.kernels.select.ComputeDtype;
import dev.attune.model.ModelFormatException;
import dev.attune.model.config.BertConfig;
import dev.attune.model.safetensors.WeightStore;
import java.util.ArrayList;
import java.util.List;

/**
 * All weights of a BERT-family encoder, read once and shared read-only by every thread.
 *
 * <p>Tensor names follow Hugging Face's {@code BertModel}; a {@code bert.} or {@code roberta.}
 * prefix (as in {@code *ForSequenceClassification} checkpoints) is accepted. Linear weights are
 * stored (out, in) in the files and transposed here to (in, out).
 *
 * @param wordEmbeddings     (vocab, hidden)
 * @param positionEmbeddings (positions, hidden)
 * @param typeEmbeddings     (types, hidden)
 * @param embNormGamma       (hidden)
 * @param embNormBeta        (hidden)
 * @param layers             encoder layers in order
 * @param pooler             (hidden, hidden) pooler dense, or null when the checkpoint has none
 * @param poolerBias         (hidden) or null
 * @param classifier         (hidden, labels) classification head, or null
 * @param classifierBias     (labels) or null
 */
public record BertWeights(
        float[] wordEmbeddings,
        float[] positionEmbeddings,
        float[] typeEmbeddings,
        float[] embNormGamma,
        float[] embNormBeta,
        List<BertLayerWeights> layers,
        float[] pooler,
        float[] poolerBias,
        float[] classifier,
        float[] classifierBias) {

    public BertWeights {
        layers = List.copyOf(layers);
    }

    /** A copy with every weight rounded to {@code dtype} (fp32: this object). */
    public BertWeights roundedTo(ComputeDtype dtype) {
        if (dtype == ComputeDtype.FP32) {
            return this;
        }
        List<BertLayerWeights> rounded = new ArrayList<>(layers.size());
        for (BertLayerWeights l : layers) {
            rounded.add(new BertLayerWeights(
                    r(l.qkv(), dtype),
                    r(l.qkvBias(), dtype),
                    r(l.attnOut(), dtype),
                    r(l.attnOutBias(), dtype),
                    r(l.attnNormGamma(), dtype),
                    r(l.attnNormBeta(), dtype),
                    r(l.ffnIn(), dtype),
                    r(l.ffnInBias(), dtype),
                    r(l.ffnOut(), dtype),
                    r(l.ffnOutBias(), dtype),
                    r(l.ffnNormGamma(), dtype),
                    r(l.ffnNormBeta(), dtype)));
        }
        return new BertWeights(
                r(wordEmbeddings, dtype),
                r(positionEmbeddings, dtype),
                r(typeEmbeddings, dtype),
                r(embNormGamma, dtype),
                r(embNormBeta, dtype),
                rounded,
                r(pooler, dtype),
                r(poolerBias, dtype),
                r(classifier, dtype),
                r(classifierBias, dtype));
    }

    private static float[] r(float[] x, ComputeDtype dtype) {
        return StoredPrecision.roundedCopy(x, dtype);
    }

    /** Number of weights, for memory planning. */
    public long parameters() {
        long n = (long) wordEmbeddings.length
                + positionEmbeddings.length
                + typeEmbeddings.length
                + embNormGamma.length
                + embNormBeta.length;
        for (BertLayerWeights l : layers) {
            n += (long) l.qkv().length
                    + l.qkvBias().length
                    + l.attnOut().length
                    + l.attnOutBias().length
                    + l.attnNormGamma().length
                    + l.attnNormBeta().length
                    + l.ffnIn().length
                    + l.ffnInBias().length
                    + l.ffnOut().length
                    + l.ffnOutBias().length
                    + l.ffnNormGamma().length
                    + l.ffnNormBeta().length;
        }
        return n;
    }

    public static BertWeights load(WeightStore store, BertConfig c) {
        String prefix = detectPrefix(store);
        int h = c.hiddenSize();
        int inter = c.intermediateSize();
        List<BertLayerWeights> layers = new ArrayList<>(c.layers());
        for (int l = 0; l < c.layers(); l++) {
            String p = prefix + "encoder.layer." + l + ".";
            float[] q = linear(store, p + "attention.self.query", h, h);
            float[] k = linear(store, p + "attention.self.key", h, h);
            float[] v = linear(store, p + "attention.self.value", h, h);
            // (hidden, 3·hidden): row i holds q[i, :], k[i, :], v[i, :].
            float[] qkv = new float[h * 3 * h];
            for (int i = 0; i < h; i++) {
                System.arraycopy(q, i * h, qkv, i * 3 * h, h);
                System.arraycopy(k, i * h, qkv, i * 3 * h + h, h);
                System.arraycopy(v, i * h, qkv, i * 3 * h + 2 * h, h);
            }
            float[] qkvBias = new float[3 * h];
            System.arraycopy(store.floats(p + "attention.self.query.bias", h), 0, qkvBias, 0, h);
            System.arraycopy(store.floats(p + "attention.self.key.bias", h), 0, qkvBias, h, h);
            System.arraycopy(store.floats(p + "attention.self.value.bias", h), 0, qkvBias, 2 * h, h);
            layers.add(new BertLayerWeights(
                    qkv,
                    qkvBias,
                    linear(store, p + "attention.output.dense", h, h),
                    store.floats(p + "attention.output.dense.bias", h),
                    store.floats(p + "attention.output.LayerNorm.weight", h),
                    store.floats(p + "attention.output.LayerNorm.bias", h),
                    linear(store, p + "intermediate.dense", h, inter),
                    store.floats(p + "intermediate.dense.bias", inter),
                    linear(store, p + "output.dense", inter, h),
                    store.floats(p + "output.dense.bias", h),
                    store.floats(p + "output.LayerNorm.weight", h),
                    store.floats(p + "output.LayerNorm.bias", h)));
        }
        float[] pooler = null;
        float[] poolerBias = null;
        if (store.contains(prefix + "pooler.dense.weight")) {
            pooler = linear(store, prefix + "pooler.dense", h, h);
            poolerBias = store.floats(prefix + "pooler.dense.bias", h);
        }
        float[] cls = null;
        float[] clsBias = null;
        if (store.contains("classifier.weight")) {
            int labels = c.id2label().isEmpty()
                    ? (int) store.info("classifier.weight").shape()[0]
                    : c.id2label().size();
            cls = linear(store, "classifier", h, labels);
            clsBias = store.floats("classifier.bias", labels);
        }
        String e = prefix + "embeddings.";
        return new BertWeights(
                store.floats(e + "word_embeddings.weight", c.vocabSize(), h),
                store.floats(e + "position_embeddings.weight", c.maxPositions(), h),
                store.floats(e + "token_type_embeddings.weight", c.typeVocabSize(), h),
                store.floats(e + "LayerNorm.weight", h),
                store.floats(e + "LayerNorm.bias", h),
                layers,
                pooler,
                poolerBias,
                cls,
                clsBias);
    }

    private static String detectPrefix(WeightStore store) {
        for (String p : new String[] {"", "bert.", "roberta."}) {
            if (store.contains(p + "embeddings.word_embeddings.weight")) {
                return p;
            }
        }
        throw new ModelFormatException(
                store.directory() + ": no embeddings.word_embeddings.weight: not a BERT-family checkpoint");
    }

    /** A Linear layer's weight stored (out, in), returned transposed to (in, out). */
    private static float[] linear(WeightStore store, String name, int in, int out) {
        float[] w = store.floats(name + ".weight", out, in);
        float[] t = new float[in * out];
        for (int o = 0; o < out; o++) {
            for (int i = 0; i < in; i++) {
                t[i * out + o] = w[o * in + i];
            }
        }
        return t;
    }
}

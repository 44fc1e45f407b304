package dev.attune.model.llama;

import com.fasterxml.jackson.databind.JsonNode;
import dev.attune.model.ModelFormatException;

/**
 * How a checkpoint's rotary position embedding rescales its frequencies ({@code rope_scaling} in
 * config.json), and the inverse frequencies that follow from it.
 *
 * <p>{@code default} keeps {@code 1 / theta^(2i/d)}; {@code linear} divides every frequency by
 * {@code factor} (position interpolation); {@code llama3} divides the low frequencies by
 * {@code factor}, keeps the high ones, and blends the band between (Llama 3.1's long-context
 * scaling, by wavelength against {@code original_max_position_embeddings}). Other types
 * ({@code yarn}, {@code dynamic}, {@code longrope}, ...) are refused at load time, naming the key.
 *
 * @param type          default, linear or llama3
 * @param factor        the scaling factor (1 for default)
 * @param lowFreqFactor llama3 only
 * @param highFreqFactor llama3 only
 * @param originalMaxPositions llama3 only: the context the model was trained with
 */
public record RopeScaling(
        String type, double factor, double lowFreqFactor, double highFreqFactor, int originalMaxPositions) {

    public static final RopeScaling NONE = new RopeScaling("default", 1, 0, 0, 0);

    /** Reads {@code rope_scaling} (absent or null: none); {@code file} names the config in errors. */
    static RopeScaling parse(JsonNode node, String file) {
        if (node == null || node.isNull() || node.isMissingNode()) {
            return NONE;
        }
        if (!node.isObject()) {
            throw new ModelFormatException(file + ": rope_scaling must be an object or null, got " + node);
        }
        JsonNode t = node.has("rope_type") ? node.get("rope_type") : node.get("type");
        String type = t == null || t.isNull() ? "default" : t.asText();
        return switch (type) {
            case "default" -> NONE;
            case "linear" -> new RopeScaling("linear", factor(node, file), 0, 0, 0);
            case "llama3" -> {
                double f = factor(node, file);
                double low = number(node, "low_freq_factor", file);
                double high = number(node, "high_freq_factor", file);
                double orig = number(node, "original_max_position_embeddings", file);
                if (!(high > low) || !(low > 0) || orig < 1) {
                    throw new ModelFormatException(file + ": rope_scaling (llama3) needs high_freq_factor > "
                            + "low_freq_factor > 0 and original_max_position_embeddings >= 1, got " + node);
                }
                yield new RopeScaling("llama3", f, low, high, (int) orig);
            }
            default ->
                throw new ModelFormatException(file + ": rope_scaling.rope_type '" + type
                        + "' is not supported (supported: default, linear, llama3)");
        };
    }

    private static double factor(JsonNode node, String file) {
        double f = number(node, "factor", file);
        if (!(f >= 1) || Double.isInfinite(f)) {
            throw new ModelFormatException(
                    file + ": rope_scaling.factor must be a number >= 1, got " + node.get("factor"));
        }
        return f;
    }

    private static double number(JsonNode node, String key, String file) {
        JsonNode v = node.get(key);
        if (v == null || !v.isNumber()) {
            throw new ModelFormatException(file + ": rope_scaling." + key + " must be a number, got " + v);
        }
        return v.asDouble();
    }

    /** The (headDim / 2) inverse frequencies of RoPE with base {@code theta} under this scaling. */
    public double[] inverseFrequencies(int headDim, double theta) {
        int half = headDim / 2;
        double[] inv = new double[half];
        for (int i = 0; i < half; i++) {
            inv[i] = 1.0 / Math.pow(theta, 2.0 * i / headDim);
        }
        switch (type) {
            case "linear" -> {
                for (int i = 0; i < half; i++) {
                    inv[i] /= factor;
                }
            }
            case "llama3" -> {
                double lowWavelen = originalMaxPositions / lowFreqFactor;
                double highWavelen = originalMaxPositions / highFreqFactor;
                for (int i = 0; i < half; i++) {
                    double wavelen = 2 * Math.PI / inv[i];
                    if (wavelen > lowWavelen) {
                        inv[i] /= factor;
                    } else if (wavelen >= highWavelen) {
                        double smooth =
                                (originalMaxPositions / wavelen - lowFreqFactor) / (highFreqFactor - lowFreqFactor);
                        inv[i] = (1 - smooth) * inv[i] / factor + smooth * inv[i];
                    }
                }
            }
            default -> {}
        }
        return inv;
    }
}

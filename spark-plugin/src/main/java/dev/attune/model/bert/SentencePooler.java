package dev.attune.model.bert;

import dev.attune.model.config.SentenceConfig;

/**
 * Turns the encoder's token vectors into one vector per row: CLS, mean or max pooling over the
 * row's tokens, then optional L2 normalisation, accumulating in double.
 */
public final class SentencePooler {

    private SentencePooler() {}

    /** Row vectors of a packed batch, (rows, hidden). */
    public static float[][] pool(float[] hidden, int width, int[] cuSeqlens, SentenceConfig cfg) {
        int rows = cuSeqlens.length - 1;
        float[][] out = new float[rows][];
        for (int b = 0; b < rows; b++) {
            out[b] = poolRow(hidden, width, cuSeqlens[b], cuSeqlens[b + 1], cfg);
        }
        return out;
    }

    static float[] poolRow(float[] hidden, int width, int from, int to, SentenceConfig cfg) {
        double[] acc = new double[width];
        switch (cfg.pooling()) {
            case CLS -> {
                for (int i = 0; i < width; i++) {
                    acc[i] = hidden[from * width + i];
                }
            }
            case MEAN -> {
                for (int t = from; t < to; t++) {
                    for (int i = 0; i < width; i++) {
                        acc[i] += hidden[t * width + i];
                    }
                }
                for (int i = 0; i < width; i++) {
                    acc[i] /= Math.max(1, to - from);
                }
            }
            case MAX -> {
                java.util.Arrays.fill(acc, Double.NEGATIVE_INFINITY);
                for (int t = from; t < to; t++) {
                    for (int i = 0; i < width; i++) {
                        acc[i] = Math.max(acc[i], hidden[t * width + i]);
                    }
                }
            }
            default -> throw new IllegalStateException("unhandled pooling " + cfg.pooling());
        }
        double scale = 1;
        if (cfg.normalize()) {
            double sq = 0;
            for (double a : acc) {
                sq += a * a;
            }
            // sentence-transformers' Normalize divides by max(norm, 1e-12).
            scale = 1.0 / Math.max(Math.sqrt(sq), 1e-12);
        }
        float[] v = new float[width];
        for (int i = 0; i < width; i++) {
            v[i] = (float) (acc[i] * scale);
        }
        return v;
    }
}

package dev.attune.model.bert;

/**
 * The head of Hugging Face's {@code BertForSequenceClassification}: the pooler
 * ({@code tanh(W_p · h_[CLS] + b_p)}) followed by the classifier ({@code W_c · pooled + b_c}),
 * then a softmax over the labels. Computed in double from the encoder's fp32 output.
 */
public final class SequenceClassifierHead {

    private SequenceClassifierHead() {}

    /** Class probabilities per row, (rows, labels). */
    public static float[][] probabilities(float[] hidden, int width, int[] cuSeqlens, BertWeights w) {
        int labels = w.classifierBias().length;
        int rows = cuSeqlens.length - 1;
        float[][] out = new float[rows][];
        double[] pooled = new double[width];
        for (int b = 0; b < rows; b++) {
            int cls = cuSeqlens[b] * width;
            // pooler weights are (in, out) after loading
            for (int o = 0; o < width; o++) {
                double acc = w.poolerBias()[o];
                for (int i = 0; i < width; i++) {
                    acc += (double) hidden[cls + i] * w.pooler()[i * width + o];
                }
                pooled[o] = Math.tanh(acc);
            }
            double[] logits = new double[labels];
            double max = Double.NEGATIVE_INFINITY;
            for (int l = 0; l < labels; l++) {
                double acc = w.classifierBias()[l];
                for (int i = 0; i < width; i++) {
                    acc += pooled[i] * w.classifier()[i * labels + l];
                }
                logits[l] = acc;
                max = Math.max(max, acc);
            }
            double sum = 0;
            for (int l = 0; l < labels; l++) {
                logits[l] = Math.exp(logits[l] - max);
                sum += logits[l];
            }
            out[b] = new float[labels];
            for (int l = 0; l < labels; l++) {
                out[b][l] = (float) (logits[l] / sum);
            }
        }
        return out;
    }
}

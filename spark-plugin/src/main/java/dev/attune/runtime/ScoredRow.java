package dev.attune.runtime;

/**
 * The outcome for one input row.
 *
 * @param vector  the embedding, or for a classifier the class probabilities; null for a null
 *                text or a failed row
 * @param label   the predicted label for a classifier, else null
 * @param score   the predicted label's probability, else NaN
 * @param path    the attention path that produced it
 * @param device  the device that produced it
 * @param error   why the row failed (with {@code spark.attune.onError=null}), else null
 */
public record ScoredRow(float[] vector, String label, double score, String path, String device, String error)
        implements java.io.Serializable {}

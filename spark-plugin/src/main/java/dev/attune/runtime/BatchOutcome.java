package dev.attune.runtime;

import dev.attune.kernels.select.AttentionChoice;
import java.util.Arrays;

/**
 * What running one batch on a device produced.
 *
 * <p>A batch usually runs whole on one choice. A batch split after running out of memory may
 * have parts that ran differently (one half re-run in fp32, or on another path after a kernel
 * failed); then {@code rowChoices} says what made each row and {@code choice} is the first row's.
 *
 * @param hidden            last hidden state, (tokens, hidden), packed order
 * @param choice            the path and dtype that produced it (the first row's when parts differ)
 * @param precisionFallback the device's dtype overflowed and the batch (or part of it) was re-run in fp32
 * @param rowChoices        (rows) the choice of each row, or null when every row ran on {@code choice}
 */
public record BatchOutcome(
        float[] hidden, AttentionChoice choice, boolean precisionFallback, AttentionChoice[] rowChoices) {

    public BatchOutcome(float[] hidden, AttentionChoice choice, boolean precisionFallback) {
        this(hidden, choice, precisionFallback, null);
    }

    /** The path and dtype that produced row {@code r} of the batch. */
    public AttentionChoice choiceOf(int r) {
        return rowChoices == null ? choice : rowChoices[r];
    }

    /**
     * The outcome of a batch made of {@code first} ({@code firstRows} rows) followed by
     * {@code second} ({@code secondRows} rows): hidden states back to back, in the original order.
     */
    public static BatchOutcome concat(BatchOutcome first, int firstRows, BatchOutcome second, int secondRows) {
        float[] hidden = Arrays.copyOf(first.hidden, first.hidden.length + second.hidden.length);
        System.arraycopy(second.hidden, 0, hidden, first.hidden.length, second.hidden.length);
        boolean fallback = first.precisionFallback || second.precisionFallback;
        if (first.rowChoices == null && second.rowChoices == null && first.choice.equals(second.choice)) {
            return new BatchOutcome(hidden, first.choice, fallback, null);
        }
        AttentionChoice[] rows = new AttentionChoice[firstRows + secondRows];
        for (int r = 0; r < firstRows; r++) {
            rows[r] = first.choiceOf(r);
        }
        for (int r = 0; r < secondRows; r++) {
            rows[firstRows + r] = second.choiceOf(r);
        }
        return new BatchOutcome(hidden, first.choice, fallback, rows);
    }
}

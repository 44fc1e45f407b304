package dev.attune.runtime;

import dev.attune.kernels.attention.MaskKind;
import dev.attune.kernels.select.AttentionRequest;
import dev.attune.model.EncoderModel;
import dev.attune.model.bert.TokenBatch;

/**
 * What the selector needs to know of a packed batch.
 *
 * @param rows   rows in the batch
 * @param maxLen the longest row, tokens
 * @param mask   {@link MaskKind#PADDING} when rows differ in length, else {@link MaskKind#NONE}
 */
public record BatchShape(int rows, int maxLen, MaskKind mask) {

    public static BatchShape of(TokenBatch batch) {
        int[] cu = batch.cuSeqlens();
        int maxLen = 0;
        boolean ragged = false;
        for (int b = 0; b < batch.rows(); b++) {
            int len = cu[b + 1] - cu[b];
            ragged |= b > 0 && len != maxLen;
            maxLen = Math.max(maxLen, len);
        }
        return new BatchShape(batch.rows(), maxLen, ragged ? MaskKind.PADDING : MaskKind.NONE);
    }

    /** The selector's request for a batch of this shape of {@code model} (at least one row of one token). */
    public AttentionRequest request(EncoderModel model) {
        return new AttentionRequest(
                model.storedDtype(),
                model.config().heads(),
                model.config().headDim(),
                Math.max(1, rows),
                Math.max(1, maxLen),
                mask);
    }
}

package dev.attune.kernels.select;

import dev.attune.kernels.attention.MaskKind;

/**
 * The attention work a batch asks for.
 *
 * @param modelDtype  how the model's weights are stored
 * @param heads       attention heads
 * @param headDim     width of one head
 * @param batch       rows in the batch
 * @param maxSeqLen   longest row, tokens
 * @param mask        none, padding (ragged rows) or causal
 */
public record AttentionRequest(
        ComputeDtype modelDtype, int heads, int headDim, int batch, int maxSeqLen, MaskKind mask) {

    public AttentionRequest {
        if (heads < 1 || headDim < 1 || batch < 1 || maxSeqLen < 1) {
            throw new IllegalArgumentException("attention request needs positive sizes: heads=" + heads + " headDim="
                    + headDim + " batch=" + batch + " maxSeqLen=" + maxSeqLen);
        }
    }
}

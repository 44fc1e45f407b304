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
 * @param mask          none, padding (ragged rows) or causal
 * @param kvHeads       key/value heads (fewer than {@code heads}: grouped-query attention)
 * @param slidingWindow keys a query sees at most (Mistral); 0 for none
 * @param sharedPrefix  whether rows read a shared prompt's K/V (prefix rows)
 */
public record AttentionRequest(
        ComputeDtype modelDtype,
        int heads,
        int headDim,
        int batch,
        int maxSeqLen,
        MaskKind mask,
        int kvHeads,
        int slidingWindow,
        boolean sharedPrefix) {

    public AttentionRequest {
        if (heads < 1 || headDim < 1 || batch < 1 || maxSeqLen < 1) {
            throw new IllegalArgumentException("attention request needs positive sizes: heads=" + heads + " headDim="
                    + headDim + " batch=" + batch + " maxSeqLen=" + maxSeqLen);
        }
        if (kvHeads < 1 || heads % kvHeads != 0 || slidingWindow < 0) {
            throw new IllegalArgumentException("attention request: " + heads + " query heads need a whole number of"
                    + " query heads per K/V head (kvHeads=" + kvHeads + "), slidingWindow=" + slidingWindow);
        }
    }

    /** Attention with one K/V head per query head, no window and no shared prefix (encoders). */
    public AttentionRequest(ComputeDtype modelDtype, int heads, int headDim, int batch, int maxSeqLen, MaskKind mask) {
        this(modelDtype, heads, headDim, batch, maxSeqLen, mask, heads, 0, false);
    }
}

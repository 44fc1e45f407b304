package dev.attune.kernels.memory;

/**
 * The sizes of a decoder that memory planning needs.
 *
 * @param layers       decoder layers
 * @param hidden       width of the residual stream
 * @param heads        query heads
 * @param kvHeads      key/value heads
 * @param headDim      width of one head
 * @param intermediate width of the gated MLP
 * @param vocab        vocabulary size (the logits' width)
 * @param parameters   number of weights
 */
public record DecoderShape(
        int layers, int hidden, int heads, int kvHeads, int headDim, int intermediate, int vocab, long parameters) {}

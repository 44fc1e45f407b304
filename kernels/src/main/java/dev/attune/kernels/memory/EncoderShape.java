package dev.attune.kernels.memory;

/**
 * The sizes of a transformer encoder that memory planning needs.
 *
 * @param layers        encoder layers
 * @param hidden        width of the residual stream
 * @param heads         attention heads
 * @param intermediate  width of the feed-forward layer
 * @param parameters    number of weights (for the weights' own memory)
 */
public record EncoderShape(int layers, int hidden, int heads, int intermediate, long parameters) {

    public int headDim() {
        return hidden / heads;
    }
}

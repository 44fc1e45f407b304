package dev.attune.kernels.kv;

import dev.attune.kernels.select.ComputeDtype;

/**
 * The shape of a decoder's key/value cache: one K and one V vector of {@code kvHeads x headDim}
 * per token, layer and sequence, stored in blocks of {@code blockSize} tokens.
 *
 * @param layers    decoder layers
 * @param kvHeads   key/value heads (grouped-query attention keeps fewer than query heads; the
 *                  cache holds only these, never a copy per query head)
 * @param headDim   width of one head
 * @param blockSize tokens per block
 */
public record KvShape(int layers, int kvHeads, int headDim, int blockSize) {

    public KvShape {
        if (layers < 1 || kvHeads < 1 || headDim < 1 || blockSize < 1) {
            throw new IllegalArgumentException("KV cache shape needs positive sizes: layers=" + layers + " kvHeads="
                    + kvHeads + " headDim=" + headDim + " blockSize=" + blockSize);
        }
    }

    /** Floats of one token's K (or V) in one layer: {@code kvHeads x headDim}. */
    public int tokenWidth() {
        return kvHeads * headDim;
    }

    /** Bytes one token takes over all layers, K and V: {@code 2 x layers x kvHeads x headDim x dtype bytes}. */
    public long bytesPerToken(ComputeDtype dtype) {
        return 2L * layers * tokenWidth() * dtype.bytes();
    }

    /** Bytes of one block over all layers, K and V. */
    public long bytesPerBlock(ComputeDtype dtype) {
        return bytesPerToken(dtype) * blockSize;
    }

    /** Blocks that fit {@code budgetBytes} in {@code dtype}; 0 when not even one does. */
    public int blocksFor(long budgetBytes, ComputeDtype dtype) {
        return (int) Math.min(Integer.MAX_VALUE, Math.max(0, budgetBytes) / bytesPerBlock(dtype));
    }

    /** Blocks a sequence of {@code tokens} tokens occupies. */
    public int blocksOf(int tokens) {
        return (tokens + blockSize - 1) / blockSize;
    }
}

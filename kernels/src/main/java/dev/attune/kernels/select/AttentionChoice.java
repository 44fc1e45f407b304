package dev.attune.kernels.select;

/**
 * The selector's decision for one device and one kind of batch.
 *
 * @param path        the attention path
 * @param dtype       the compute dtype of the whole forward pass on that device
 * @param queryChunk  queries per chunk for the math paths when the full score matrix would not
 *                    fit (equal to the longest row when no chunking is needed)
 * @param reason      one line a person can read: why this path and dtype
 */
public record AttentionChoice(AttentionPath path, ComputeDtype dtype, int queryChunk, String reason) {

    @Override
    public String toString() {
        return path + " " + dtype + " — " + reason;
    }
}

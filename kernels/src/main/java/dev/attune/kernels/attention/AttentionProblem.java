package dev.attune.kernels.attention;

import java.util.Arrays;

/**
 * The shape of one multi-head attention call over a packed batch.
 *
 * <p>Layout: the batch's rows are packed back to back without padding ("varlen", as in
 * FlashAttention's {@code cu_seqlens}); row {@code b} owns tokens
 * {@code [cuSeqlens[b], cuSeqlens[b+1])}. Q, K and V live in one or more row-major buffers of
 * {@code rowStride} floats per token; head {@code h} of token {@code t} of Q starts at
 * {@code t * rowStride + qOffset + h * headDim} (likewise K and V). The output is
 * (tokens, heads * headDim), row-major.
 *
 * @param cuSeqlens  prefix sums of the row lengths, {@code batch + 1} entries starting at 0
 * @param heads      number of heads (query and key/value heads are equal in encoder models)
 * @param headDim    width of one head
 * @param causal     whether query i may only see keys up to i of its row
 * @param scale      factor applied to q·k before the softmax, usually 1/sqrt(headDim)
 * @param rowStride  floats per token in the Q/K/V buffers
 * @param qOffset    offset of Q within a token's row
 * @param kOffset    offset of K within a token's row
 * @param vOffset    offset of V within a token's row
 */
public record AttentionProblem(int[] cuSeqlens, int heads, int headDim, boolean causal, float scale,
                               int rowStride, int qOffset, int kOffset, int vOffset) {

    public AttentionProblem {
        if (cuSeqlens == null || cuSeqlens.length < 2 || cuSeqlens[0] != 0) {
            throw new IllegalArgumentException("cuSeqlens must start at 0 and describe at least one row");
        }
        for (int b = 1; b < cuSeqlens.length; b++) {
            if (cuSeqlens[b] < cuSeqlens[b - 1]) {
                throw new IllegalArgumentException("cuSeqlens must not decrease: " + Arrays.toString(cuSeqlens));
            }
        }
        if (heads < 1 || headDim < 1) {
            throw new IllegalArgumentException("heads and headDim must be positive: " + heads + ", " + headDim);
        }
        int width = heads * headDim;
        if (qOffset < 0 || kOffset < 0 || vOffset < 0 || qOffset + width > rowStride
                || kOffset + width > rowStride || vOffset + width > rowStride) {
            throw new IllegalArgumentException("Q/K/V offsets do not fit a row of " + rowStride + " floats");
        }
        cuSeqlens = cuSeqlens.clone();
    }

    /** Q, K and V fused in one (tokens, 3 * heads * headDim) buffer, in that order. */
    public static AttentionProblem fusedQkv(int[] cuSeqlens, int heads, int headDim, boolean causal) {
        int w = heads * headDim;
        return new AttentionProblem(cuSeqlens, heads, headDim, causal, (float) (1.0 / Math.sqrt(headDim)),
                3 * w, 0, w, 2 * w);
    }

    public int batch() {
        return cuSeqlens.length - 1;
    }

    public int totalTokens() {
        return cuSeqlens[cuSeqlens.length - 1];
    }

    public int seqLen(int b) {
        return cuSeqlens[b + 1] - cuSeqlens[b];
    }

    public int maxSeqLen() {
        int m = 0;
        for (int b = 0; b < batch(); b++) {
            m = Math.max(m, seqLen(b));
        }
        return m;
    }

    /** Width of one token's output row. */
    public int outWidth() {
        return heads * headDim;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof AttentionProblem p && Arrays.equals(cuSeqlens, p.cuSeqlens) && heads == p.heads
                && headDim == p.headDim && causal == p.causal && scale == p.scale && rowStride == p.rowStride
                && qOffset == p.qOffset && kOffset == p.kOffset && vOffset == p.vOffset;
    }

    @Override
    public int hashCode() {
        return 31 * Arrays.hashCode(cuSeqlens) + java.util.Objects.hash(heads, headDim, causal, scale, rowStride,
                qOffset, kOffset, vOffset);
    }

    @Override
    public String toString() {
        return "AttentionProblem[batch=" + batch() + ", tokens=" + totalTokens() + ", heads=" + heads
                + ", headDim=" + headDim + ", causal=" + causal + "]";
    }
}

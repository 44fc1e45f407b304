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
 * <p>Grouped-query attention: K and V have {@code kvHeads} heads, and query head {@code h} reads
 * key/value head {@code h / (heads / kvHeads)} in place, so K and V are never copied per query
 * head (multi-head attention is {@code kvHeads == heads}, multi-query {@code kvHeads == 1}).
 *
 * @param cuSeqlens     prefix sums of the row lengths, {@code batch + 1} entries starting at 0
 * @param heads         number of query heads
 * @param kvHeads       number of key/value heads; divides {@code heads}
 * @param headDim       width of one head
 * @param causal        whether query i may only see keys up to i of its row
 * @param slidingWindow with {@code causal}, query i sees only keys j with {@code i - j < slidingWindow}
 *                      (Mistral's local attention); 0 for no window
 * @param prefixRows    null, or per row the index of an earlier row of the batch whose tokens are
 *                      this row's context (a prompt shared by several continuations: its K and V
 *                      are computed once and read by each of them), or -1; a continuation's keys
 *                      are the prefix row's tokens, then its own (causal), and positions and the
 *                      window count over that concatenation
 * @param scale      factor applied to q·k before the softmax, usually 1/sqrt(headDim)
 * @param rowStride  floats per token in the Q/K/V buffers
 * @param qOffset    offset of Q within a token's row
 * @param kOffset    offset of K within a token's row
 * @param vOffset    offset of V within a token's row
 */
public record AttentionProblem(
        int[] cuSeqlens,
        int heads,
        int kvHeads,
        int headDim,
        boolean causal,
        int slidingWindow,
        float scale,
        int rowStride,
        int qOffset,
        int kOffset,
        int vOffset,
        int[] prefixRows) {

    /** Rows that share no prefix. */
    public AttentionProblem(
            int[] cuSeqlens,
            int heads,
            int kvHeads,
            int headDim,
            boolean causal,
            int slidingWindow,
            float scale,
            int rowStride,
            int qOffset,
            int kOffset,
            int vOffset) {
        this(
                cuSeqlens,
                heads,
                kvHeads,
                headDim,
                causal,
                slidingWindow,
                scale,
                rowStride,
                qOffset,
                kOffset,
                vOffset,
                null);
    }

    /** Multi-head attention without a window: as many key/value heads as query heads. */
    public AttentionProblem(
            int[] cuSeqlens,
            int heads,
            int headDim,
            boolean causal,
            float scale,
            int rowStride,
            int qOffset,
            int kOffset,
            int vOffset) {
        this(cuSeqlens, heads, heads, headDim, causal, 0, scale, rowStride, qOffset, kOffset, vOffset);
    }

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
        if (kvHeads < 1 || heads % kvHeads != 0) {
            throw new IllegalArgumentException(
                    "key/value heads (" + kvHeads + ") must divide the query heads (" + heads + ")");
        }
        if (slidingWindow < 0 || (slidingWindow > 0 && !causal)) {
            throw new IllegalArgumentException(
                    "a sliding window (" + slidingWindow + ") needs a causal mask and must " + "not be negative");
        }
        int width = heads * headDim;
        int kvWidth = kvHeads * headDim;
        if (qOffset < 0
                || kOffset < 0
                || vOffset < 0
                || qOffset + width > rowStride
                || kOffset + kvWidth > rowStride
                || vOffset + kvWidth > rowStride) {
            throw new IllegalArgumentException("Q/K/V offsets do not fit a row of " + rowStride + " floats");
        }
        cuSeqlens = cuSeqlens.clone();
        if (prefixRows != null) {
            if (prefixRows.length != cuSeqlens.length - 1 || !causal) {
                throw new IllegalArgumentException("prefix rows need a causal mask and one entry per row");
            }
            for (int b = 0; b < prefixRows.length; b++) {
                int p = prefixRows[b];
                if (p >= b || p < -1 || (p >= 0 && prefixRows[p] != -1)) {
                    throw new IllegalArgumentException("row " + b + ": prefix row " + p + " must be an earlier row "
                            + "that has no prefix itself");
                }
            }
            prefixRows = prefixRows.clone();
        }
    }

    /** Q, K and V fused in one (tokens, 3 * heads * headDim) buffer, in that order. */
    public static AttentionProblem fusedQkv(int[] cuSeqlens, int heads, int headDim, boolean causal) {
        int w = heads * headDim;
        return new AttentionProblem(
                cuSeqlens, heads, headDim, causal, (float) (1.0 / Math.sqrt(headDim)), 3 * w, 0, w, 2 * w);
    }

    /**
     * Q, K and V fused in one (tokens, (heads + 2 * kvHeads) * headDim) buffer, q | k | v per
     * token, as a decoder's fused projection writes them.
     */
    public static AttentionProblem fusedGqa(int[] cuSeqlens, int heads, int kvHeads, int headDim, int slidingWindow) {
        return fusedGqa(cuSeqlens, heads, kvHeads, headDim, slidingWindow, null);
    }

    /** As {@link #fusedGqa(int[], int, int, int, int)}, with rows that continue a shared prefix row. */
    public static AttentionProblem fusedGqa(
            int[] cuSeqlens, int heads, int kvHeads, int headDim, int slidingWindow, int[] prefixRows) {
        int qw = heads * headDim;
        int kvw = kvHeads * headDim;
        return new AttentionProblem(
                cuSeqlens,
                heads,
                kvHeads,
                headDim,
                true,
                slidingWindow,
                (float) (1.0 / Math.sqrt(headDim)),
                qw + 2 * kvw,
                0,
                qw,
                qw + kvw,
                prefixRows);
    }

    /** Tokens of context row {@code b} reads before its own: its prefix row's length, or 0. */
    public int prefixLength(int b) {
        return prefixRows == null || prefixRows[b] < 0 ? 0 : seqLen(prefixRows[b]);
    }

    /** Keys row {@code b}'s queries may read in all: its prefix's tokens and its own. */
    public int keyLength(int b) {
        return prefixLength(b) + seqLen(b);
    }

    /** The packed token index of key {@code k} of row {@code b} (its prefix's tokens come first). */
    public int keyToken(int b, int k) {
        int p = prefixLength(b);
        return k < p ? cuSeqlens[prefixRows[b]] + k : cuSeqlens[b] + k - p;
    }

    /** The longest key sequence of any row. */
    public int maxKeyLength() {
        int m = 0;
        for (int b = 0; b < batch(); b++) {
            m = Math.max(m, keyLength(b));
        }
        return m;
    }

    /** The key/value head that query head {@code h} reads. */
    public int kvHeadOf(int h) {
        return h / (heads / kvHeads);
    }

    /**
     * The first key (an index into row {@code b}'s keys, see {@link #keyToken}) that query
     * {@code i} (0-based within its row) may see.
     */
    public int firstKey(int b, int i) {
        return slidingWindow > 0 ? Math.max(0, prefixLength(b) + i - slidingWindow + 1) : 0;
    }

    /** One past the last key of row {@code b} that query {@code i} may see. */
    public int keyEnd(int b, int i) {
        return causal ? prefixLength(b) + i + 1 : keyLength(b);
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
        return o instanceof AttentionProblem p
                && Arrays.equals(cuSeqlens, p.cuSeqlens)
                && heads == p.heads
                && kvHeads == p.kvHeads
                && headDim == p.headDim
                && causal == p.causal
                && slidingWindow == p.slidingWindow
                && Arrays.equals(prefixRows, p.prefixRows)
                && scale == p.scale
                && rowStride == p.rowStride
                && qOffset == p.qOffset
                && kOffset == p.kOffset
                && vOffset == p.vOffset;
    }

    @Override
    public int hashCode() {
        return 31 * (31 * Arrays.hashCode(cuSeqlens) + Arrays.hashCode(prefixRows))
                + java.util.Objects.hash(
                        heads, kvHeads, headDim, causal, slidingWindow, scale, rowStride, qOffset, kOffset, vOffset);
    }

    @Override
    public String toString() {
        return "AttentionProblem[batch=" + batch() + ", tokens=" + totalTokens() + ", heads=" + heads
                + ", kvHeads=" + kvHeads + ", headDim=" + headDim + ", causal=" + causal
                + (slidingWindow > 0 ? ", window=" + slidingWindow : "") + "]";
    }
}

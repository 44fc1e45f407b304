package dev.attune.model.bert;

import dev.attune.model.config.BertConfig;
import dev.attune.model.tokenizer.TokenizedText;
import java.util.List;

/**
 * Rows of token ids packed back to back, no padding: row {@code b} owns tokens
 * {@code [cuSeqlens[b], cuSeqlens[b+1])}. This is the layout every Attune path computes on; a
 * padding mask is never materialised.
 *
 * @param ids       (tokens) token ids
 * @param typeIds   (tokens) token-type ids
 * @param cuSeqlens (rows + 1) prefix sums of row lengths
 */
public record TokenBatch(int[] ids, int[] typeIds, int[] cuSeqlens) {

    public static TokenBatch pack(List<TokenizedText> rows) {
        int[] cu = new int[rows.size() + 1];
        for (int b = 0; b < rows.size(); b++) {
            cu[b + 1] = cu[b] + rows.get(b).length();
        }
        int[] ids = new int[cu[rows.size()]];
        int[] types = new int[ids.length];
        for (int b = 0; b < rows.size(); b++) {
            System.arraycopy(rows.get(b).ids(), 0, ids, cu[b], rows.get(b).length());
            System.arraycopy(rows.get(b).typeIds(), 0, types, cu[b], rows.get(b).length());
        }
        return new TokenBatch(ids, types, cu);
    }

    public int rows() {
        return cuSeqlens.length - 1;
    }

    public int tokens() {
        return ids.length;
    }

    /**
     * The position id of every token, each row counting from the model's offset, after checking
     * that every token id, token type and position lies inside the model's embedding tables (the
     * embedding gathers, on the CPU and on the GPU, index them unchecked).
     *
     * @throws IllegalArgumentException naming the id, type or row that does not fit
     */
    public int[] positionIds(BertConfig config) {
        int[] pos = new int[tokens()];
        int offset = config.positionOffset();
        for (int b = 0; b < rows(); b++) {
            int len = cuSeqlens[b + 1] - cuSeqlens[b];
            if (offset + len > config.maxPositions()) {
                throw new IllegalArgumentException("row " + b + " has " + len + " tokens, more than the model's "
                        + config.maxInputTokens() + " positions");
            }
            for (int tok = cuSeqlens[b]; tok < cuSeqlens[b + 1]; tok++) {
                if (ids[tok] < 0 || ids[tok] >= config.vocabSize()) {
                    throw new IllegalArgumentException(
                            "token id " + ids[tok] + " is outside the vocabulary of " + config.vocabSize());
                }
                if (typeIds[tok] < 0 || typeIds[tok] >= config.typeVocabSize()) {
                    throw new IllegalArgumentException(
                            "token type " + typeIds[tok] + " is outside 0.." + (config.typeVocabSize() - 1));
                }
                pos[tok] = offset + tok - cuSeqlens[b];
            }
        }
        return pos;
    }
}

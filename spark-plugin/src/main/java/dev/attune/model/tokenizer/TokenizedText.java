package dev.attune.model.tokenizer;

/**
 * One text after tokenization: token ids and token-type ids, special tokens included, no
 * padding.
 *
 * @param ids       token ids
 * @param typeIds   token-type (segment) ids, same length
 * @param truncated whether tokens were dropped to fit the maximum length
 */
public record TokenizedText(int[] ids, int[] typeIds, boolean truncated) {

    public int length() {
        return ids.length;
    }
}

package dev.attune.task.generate;

import dev.attune.model.tokenizer.TextTokenizer;
import java.util.Arrays;

/**
 * The text of a growing token sequence, a few tokens at a time: each call decodes only a short
 * window of the newest tokens instead of the whole sequence, so matching stop strings costs the
 * same at the 1,000th token as at the first.
 *
 * <p>Why a window and not one token at a time: a token's text depends on its neighbours. A
 * SentencePiece decoder drops the leading space of a sequence's first word, and byte-fallback or
 * byte-level BPE tokens carry parts of one UTF-8 character. So the window starts a little before
 * the new tokens ({@code prefix}), the text of {@code [prefix, read)} is decoded alongside that of
 * {@code [prefix, end)}, and the difference is the new text. When the window's text ends in
 * U+FFFD (a character whose remaining bytes are still to come), nothing is emitted until a later
 * token completes it. The concatenated output equals the decode of the whole sequence for the
 * tokenizers in use (tested on the Llama 2, Llama 3 and Qwen tokenizers, byte fallback included).
 *
 * <p>Threading: one instance per sequence, used by one thread.
 */
public final class IncrementalDetokenizer {

    private static final char INCOMPLETE = '\uFFFD';

    private final TextTokenizer tokenizer;
    private final StringBuilder text = new StringBuilder();
    /** Where the decoding window starts: a token or so before those not yet emitted. */
    private int prefix;
    /** Tokens [0, read) have had their text emitted. */
    private int read;

    public IncrementalDetokenizer(TextTokenizer tokenizer) {
        this.tokenizer = tokenizer;
    }

    /**
     * Takes the sequence so far ({@code ids}, which extends the one of the previous call) and
     * returns the text its new tokens add; empty while a character is incomplete. Special tokens
     * add no text.
     */
    public String append(int[] ids) {
        if (ids.length <= read) {
            return "";
        }
        String before = prefix == read ? "" : tokenizer.decode(Arrays.copyOfRange(ids, prefix, read), true);
        String now = tokenizer.decode(Arrays.copyOfRange(ids, prefix, ids.length), true);
        if (now.length() <= before.length() || now.charAt(now.length() - 1) == INCOMPLETE || !now.startsWith(before)) {
            // No new text yet (a special token, or a character still incomplete); a decoder that
            // rewrites earlier text inside the window also waits for a token that settles it.
            return "";
        }
        String delta = now.substring(before.length());
        prefix = read;
        read = ids.length;
        text.append(delta);
        return delta;
    }

    /** Everything emitted so far. */
    public CharSequence text() {
        return text;
    }
}

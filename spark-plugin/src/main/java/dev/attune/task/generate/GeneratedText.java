package dev.attune.task.generate;

/**
 * What one row generated.
 *
 * @param promptIds    the prompt's token ids
 * @param tokens       the generated token ids (an end-of-sequence token that stopped it included;
 *                     the tokens of a matched stop string included, though the text leaves it out)
 * @param text         the generated text, up to (not including) a matched stop string
 * @param finishReason {@code stop} (an end-of-sequence token or a stop string) or {@code length}
 * @param logprobs     each generated token's natural-log probability under the model: the log
 *                     softmax of its raw logits, before temperature, penalties or truncation
 * @param preemptions  how often the row lost its cache to others and was recomputed
 */
public record GeneratedText(
        int[] promptIds, int[] tokens, String text, String finishReason, float[] logprobs, int preemptions) {

    public static final String STOP = "stop";
    public static final String LENGTH = "length";
}

package dev.attune.task;

import java.util.Arrays;

/**
 * The log-likelihood of one row under a decoder.
 *
 * @param tokens        every token id of the row as the tokenizer gives them (prompt and text,
 *                      special tokens included)
 * @param tokenLogprobs (tokens) natural-log probability of each token given those before it;
 *                      NaN where a token is not scored (the first token, which has no
 *                      prediction, and a prompt's tokens)
 * @param firstScored   index of the first scored token
 * @param logprob       sum of the scored tokens' log-probabilities
 * @param scoredTokens  how many tokens were scored
 * @param device        the device that computed it
 * @param path          the attention path that computed it
 * @param dtype         the compute dtype
 */
public record SequenceScore(
        int[] tokens,
        float[] tokenLogprobs,
        int firstScored,
        double logprob,
        int scoredTokens,
        String device,
        String path,
        String dtype) {

    /** Mean log-probability per scored token (NaN when none was scored). */
    public double meanLogprob() {
        return scoredTokens == 0 ? Double.NaN : logprob / scoredTokens;
    }

    /** Perplexity over the scored tokens, exp(-mean). */
    public double perplexity() {
        return Math.exp(-meanLogprob());
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof SequenceScore s
                && Arrays.equals(tokens, s.tokens)
                && Arrays.equals(tokenLogprobs, s.tokenLogprobs)
                && firstScored == s.firstScored
                && Double.compare(logprob, s.logprob) == 0
                && scoredTokens == s.scoredTokens
                && java.util.Objects.equals(device, s.device)
                && java.util.Objects.equals(path, s.path)
                && java.util.Objects.equals(dtype, s.dtype);
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(tokens) * 31 + Double.hashCode(logprob);
    }

    @Override
    public String toString() {
        return "SequenceScore[tokens=" + tokens.length + ", scored=" + scoredTokens + ", logprob=" + logprob + ", path="
                + path + "]";
    }
}

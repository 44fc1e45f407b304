package dev.attune.task.generate;

import java.util.List;

/**
 * How a row's next tokens are chosen and when its generation stops.
 *
 * @param temperature       0 for greedy (the most likely token); otherwise logits are divided by it
 * @param topK              keep the k most likely tokens (0: all)
 * @param topP              keep the smallest set of most likely tokens whose probability reaches p (1: all)
 * @param minP              keep tokens at least this fraction of the most likely one's probability (0: all)
 * @param repetitionPenalty HF's: a seen token's positive logit divided by it, a negative one multiplied (1: off)
 * @param presencePenalty   subtracted from the logit of every token already generated (0: off)
 * @param maxNewTokens      generated tokens at most
 * @param stop              strings that end the generation; the match is not part of the text
 * @param seed              the job's seed, mixed with each row's key into that row's random stream
 */
public record SamplingParams(
        double temperature,
        int topK,
        double topP,
        double minP,
        double repetitionPenalty,
        double presencePenalty,
        int maxNewTokens,
        List<String> stop,
        long seed)
        implements java.io.Serializable {

    public SamplingParams {
        stop = List.copyOf(stop);
        String bad = null;
        if (!(temperature >= 0) || Double.isInfinite(temperature)) {
            bad = "temperature " + temperature + " must be 0 (greedy) or positive";
        } else if (topK < 0) {
            bad = "top-k " + topK + " must be 0 (off) or positive";
        } else if (!(topP > 0 && topP <= 1)) {
            bad = "top-p " + topP + " must be in (0, 1]";
        } else if (!(minP >= 0 && minP < 1)) {
            bad = "min-p " + minP + " must be in [0, 1)";
        } else if (!(repetitionPenalty > 0) || Double.isInfinite(repetitionPenalty)) {
            bad = "repetition penalty " + repetitionPenalty + " must be positive (1 = off)";
        } else if (!Double.isFinite(presencePenalty)) {
            bad = "presence penalty " + presencePenalty + " must be finite";
        } else if (maxNewTokens < 1) {
            bad = "max new tokens " + maxNewTokens + " must be at least 1";
        } else if (stop.stream().anyMatch(s -> s == null || s.isEmpty())) {
            bad = "a stop string is empty";
        }
        if (bad != null) {
            throw new IllegalArgumentException("sampling: " + bad);
        }
    }

    /** Greedy decoding of at most {@code maxNewTokens} tokens, no penalties, no stop strings. */
    public static SamplingParams greedy(int maxNewTokens) {
        return new SamplingParams(0, 0, 1, 0, 1, 0, maxNewTokens, List.of(), 0);
    }

    public boolean isGreedy() {
        return temperature == 0;
    }
}

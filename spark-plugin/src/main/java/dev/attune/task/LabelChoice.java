package dev.attune.task;

import java.util.ArrayList;
import java.util.List;

/**
 * "An LLM as a classifier": for a prompt and a fixed list of candidate labels, each label's
 * log-likelihood as a completion of the prompt, and the label that scores highest.
 *
 * <p>With {@code lengthNormalized} labels are compared by their mean log-probability per token
 * (so a label of many tokens is not penalised for its length), else by the sum.
 *
 * <p>Every candidate of every row is one completion row of {@link LogLikelihood}, so candidates
 * of all rows are packed into the same length-bucketed batches.
 */
public final class LabelChoice {

    /**
     * One row's choice.
     *
     * @param index  the chosen label's index in the candidates
     * @param label  the chosen label
     * @param scores (candidates) the score each label was compared by
     * @param device the device that computed it
     * @param path   the attention path that computed it
     */
    public record Choice(int index, String label, double[] scores, String device, String path) {}

    /** One row to choose for: a prompt and its candidates. */
    public record Request(String prompt, List<String> labels) {}

    private final LogLikelihood scorer;
    private final boolean lengthNormalized;

    public LabelChoice(LogLikelihood scorer, boolean lengthNormalized) {
        this.scorer = scorer;
        this.lengthNormalized = lengthNormalized;
    }

    /**
     * Chooses for each row, in input order; a row with a null prompt or null labels gives null.
     * A row with no candidates, or a null or empty candidate, is an {@link IllegalArgumentException}
     * naming the row and the candidate.
     */
    public Choice[] choose(List<Request> rows) {
        return choose(rows, LogLikelihood.Listener.NONE);
    }

    /** As {@link #choose(List)}, telling {@code listener} about every batch the candidates ran in. */
    public Choice[] choose(List<Request> rows, LogLikelihood.Listener listener) {
        List<ScoreRequest> flat = new ArrayList<>();
        for (int i = 0; i < rows.size(); i++) {
            Request r = rows.get(i);
            if (r == null || r.prompt() == null || r.labels() == null) {
                continue;
            }
            if (r.labels().isEmpty()) {
                throw new IllegalArgumentException("row " + i + ": no candidate labels");
            }
            for (int c = 0; c < r.labels().size(); c++) {
                String l = r.labels().get(c);
                if (l == null || l.isEmpty()) {
                    throw new IllegalArgumentException(
                            "row " + i + ": candidate " + c + " is " + (l == null ? "null" : "empty"));
                }
                flat.add(new ScoreRequest(r.prompt(), l));
            }
        }
        SequenceScore[] scores = scorer.score(flat, listener);
        Choice[] out = new Choice[rows.size()];
        int k = 0;
        for (int i = 0; i < rows.size(); i++) {
            Request r = rows.get(i);
            if (r == null || r.prompt() == null || r.labels() == null) {
                continue;
            }
            double[] s = new double[r.labels().size()];
            int best = 0;
            SequenceScore first = scores[k];
            for (int c = 0; c < s.length; c++) {
                SequenceScore sc = scores[k++];
                s[c] = lengthNormalized ? sc.meanLogprob() : sc.logprob();
                if (s[c] > s[best]) {
                    best = c;
                }
            }
            out[i] = new Choice(best, r.labels().get(best), s, first.device(), first.path());
        }
        return out;
    }
}

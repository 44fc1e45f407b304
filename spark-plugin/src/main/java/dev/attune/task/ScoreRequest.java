package dev.attune.task;

/**
 * One row to score by log-likelihood: a text, or a completion given a prompt.
 *
 * @param prompt the context the text continues, or null; its tokens are read but not scored
 * @param text   the text whose tokens are scored; null gives a null score
 */
public record ScoreRequest(String prompt, String text) {

    public static ScoreRequest text(String text) {
        return new ScoreRequest(null, text);
    }
}

package dev.attune.task.generate;

/**
 * One row to generate for: its prompt's token ids (rendered and tokenized by the caller, special
 * tokens included), its sampling parameters and its key (what seeds its random stream).
 */
public record GenerationRequest(int[] promptIds, SamplingParams params, String key) {

    public GenerationRequest {
        if (promptIds == null || promptIds.length == 0) {
            throw new IllegalArgumentException("a generation needs at least one prompt token");
        }
        promptIds = promptIds.clone();
        if (key == null) {
            throw new IllegalArgumentException("a generation needs a key for its random stream");
        }
    }
}

package dev.attune.task;

import dev.attune.model.ModelFamily;
import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;

/**
 * What a row becomes: the one list of tasks shared by the transformers, the SQL functions and the
 * scoring job's {@code --task}. Each task names the model family that runs it.
 *
 * <p>Encoder tasks are carried out by {@link PartitionScorer} (through {@link EncoderScoring});
 * decoder tasks by {@link LogLikelihood} and {@link LabelChoice}.
 */
public enum TaskKind {
    /** Sentence embedding, {@code array<float>}. */
    EMBED(ModelFamily.ENCODER),
    /** Sequence classification: label and score. */
    CLASSIFY(ModelFamily.ENCODER),
    /** Log-likelihood of a text, or of a completion given a prompt. */
    LOGLIK(ModelFamily.DECODER),
    /** The candidate label a decoder finds most likely after a prompt. */
    CHOOSE(ModelFamily.DECODER),
    /** Text a decoder generates after a prompt (or chat messages). */
    GENERATE(ModelFamily.DECODER);

    private final ModelFamily family;

    TaskKind(ModelFamily family) {
        this.family = family;
    }

    /** The model family that runs the task. */
    public ModelFamily family() {
        return family;
    }

    /** The lower-case name used by {@code --task} and in job settings. */
    public String id() {
        return name().toLowerCase(Locale.ROOT);
    }

    /** The task named {@code id} (case-insensitive); an unknown name is an error listing the tasks. */
    public static TaskKind parse(String id) {
        for (TaskKind k : values()) {
            if (k.id().equalsIgnoreCase(id)) {
                return k;
            }
        }
        throw new IllegalArgumentException("task must be one of "
                + Arrays.stream(values()).map(TaskKind::id).collect(Collectors.joining(", ")) + ", got '" + id + "'");
    }
}

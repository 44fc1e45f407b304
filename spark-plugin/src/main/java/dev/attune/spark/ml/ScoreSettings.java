package dev.attune.spark.ml;

import dev.attune.runtime.OnError;
import dev.attune.task.TaskKind;
import java.io.Serializable;

/**
 * What a transformer's tasks need, captured on the driver and shipped with the task closure.
 *
 * @param model        model string
 * @param task         embed or classify
 * @param batchRows    rows per batch, 0 = from the memory planner
 * @param maxLength    truncation length, 0 = the model's
 * @param onError      fail or null, resolved on the driver (the parameter, else the session's
 *                     spark.attune.onError) so that it agrees with {@code withError}
 * @param textIndex    index of the text column
 * @param idIndex      index of the id column naming rows in errors, -1 for the row position
 * @param withProbabilities  classifier: add the probabilities column
 * @param withPath     add the path column
 * @param withDevice   add the device column
 * @param withError    add the error column
 */
record ScoreSettings(
        String model,
        TaskKind task,
        int batchRows,
        int maxLength,
        OnError onError,
        int textIndex,
        int idIndex,
        boolean withProbabilities,
        boolean withPath,
        boolean withDevice,
        boolean withError)
        implements Serializable {}

package dev.attune.task;

import dev.attune.kernels.cpu.CpuThreads;
import dev.attune.model.EncoderModel;
import dev.attune.runtime.AttuneRuntime;
import dev.attune.runtime.AttuneSettings;
import dev.attune.runtime.DevicePlan;
import dev.attune.runtime.DeviceSlot;
import dev.attune.runtime.OnError;
import dev.attune.runtime.RowFailure;
import dev.attune.runtime.ScoredRow;
import dev.attune.runtime.TaskPlacement;
import java.util.ArrayList;
import java.util.List;

/**
 * Scores the rows of one partition chunk on the device the task uses, with the row-level error
 * policy:
 * <ul>
 *   <li>each text is checked first: at most {@code spark.attune.maxTextChars} characters, and no
 *   unpaired UTF-16 surrogate (possible in Java strings, though not in Spark's UTF-8 rows);</li>
 *   <li>rows are embedded together in length-grouped batches;</li>
 *   <li>when a batch fails, its rows are retried one by one to find the row at fault;</li>
 *   <li>{@code onError=fail}: the first failing row fails the task, named by its id;
 *   {@code onError=null}: it gets a null result and the error, and every other row is kept.</li>
 * </ul>
 * The device's permits are held while the chunk runs, bounding concurrent tasks per GPU.
 */
public final class PartitionScorer {

    private final AttuneRuntime runtime;
    private final String modelSpec;
    private final TaskKind task;
    private final int batchRows;
    private final OnError onError;
    private final int maxLength;

    /**
     * @param batchRows rows per batch, 0 = spark.attune.batch.size, and when that is 0 too, from the memory planner
     * @param maxLength truncation length, 0 = the model's
     */
    public PartitionScorer(
            AttuneRuntime runtime, String modelSpec, TaskKind task, int batchRows, OnError onError, int maxLength) {
        if (task != TaskKind.EMBED && task != TaskKind.CLASSIFY) {
            throw new IllegalArgumentException(task.id() + " is a decoder task; PartitionScorer scores encoder rows");
        }
        this.runtime = runtime;
        this.modelSpec = modelSpec;
        this.task = task;
        this.batchRows = batchRows;
        this.onError = onError;
        this.maxLength = maxLength;
    }

    /**
     * Scores {@code texts}; {@code ids} name the rows in errors (the id column's value, or the
     * row's position in the partition); {@code placement} picks the device ({@link AttuneRuntime#slotFor}).
     */
    public List<ScoredRow> score(List<String> texts, List<String> ids, TaskPlacement placement) {
        EncoderModel model = runtime.model(modelSpec);
        if (task == TaskKind.CLASSIFY) {
            model.requireClassifier(); // a model that cannot classify fails the task: it is not a row error
        }
        DeviceSlot slot = runtime.slotFor(placement);
        int configured = runtime.settings().batchSize();
        int rows = batchRows > 0 ? batchRows : configured > 0 ? configured : autoBatch(model, slot);
        int maxTokens = runtime.settings().batchMaxTokens();
        String device = slot.device().label();
        ScoredRow[] out = new ScoredRow[texts.size()];
        List<Integer> todo = new ArrayList<>();
        int maxChars = runtime.settings().maxTextChars();
        for (int i = 0; i < texts.size(); i++) {
            String problem = check(texts.get(i), maxChars);
            if (problem != null) {
                out[i] = fail(ids.get(i), problem, null, device);
            } else {
                todo.add(i);
            }
        }
        if (todo.isEmpty()) {
            return List.of(out);
        }
        slot.permits().acquireUninterruptibly();
        try {
            CpuThreads threads = runtime.threadsForThisTask();
            List<String> batchTexts = todo.stream().map(texts::get).toList();
            try {
                fill(out, todo, run(model, slot, batchTexts, rows, maxTokens, threads));
            } catch (RowFailure
                    | dev.attune.kernels.select.UnsupportedPathException
                    | dev.attune.model.ModelFormatException e) {
                // A forced path the device cannot run, or a broken model, is not a row's fault: fail the task.
                throw e;
            } catch (RuntimeException whole) {
                // Find the rows at fault: each row alone.
                for (int i : todo) {
                    try {
                        fill(out, List.of(i), run(model, slot, List.of(texts.get(i)), 1, maxTokens, threads));
                    } catch (RuntimeException e) {
                        out[i] = fail(ids.get(i), e.getMessage(), e, device);
                    }
                }
            }
        } finally {
            slot.permits().release();
        }
        for (int i : todo) {
            String bad =
                    out[i].error() == null ? EncoderScoring.nonFinite(out[i].vector(), modelSpec, out[i].path()) : null;
            if (bad != null) {
                out[i] = fail(ids.get(i), bad, null, device);
            }
        }
        return List.of(out);
    }

    private int autoBatch(EncoderModel model, DeviceSlot slot) {
        DevicePlan plan = DevicePlan.of(
                slot.runner().device(),
                model.shape(),
                model.storedDtype(),
                model.maxLength(),
                runtime.settings().overrides(),
                runtime.settings().gpuMemoryFraction(),
                runtime.settings().concurrentTasksOn(slot.runner().device()),
                256);
        return Math.max(1, Math.min(256, plan.batchRows()));
    }

    private List<ScoredRow> run(
            EncoderModel model, DeviceSlot slot, List<String> texts, int rows, int maxTokens, CpuThreads threads) {
        List<ScoredRow> result = new ArrayList<>(texts.size());
        // Metrics per batch the device ran: rows and tokens it computed (null texts are not run), time per
        // path, fp16 overflows re-run in fp32.
        EncoderScoring.BatchListener metrics = (n, tokens, path, nanos, fallback) -> {
            runtime.metrics().batch(path, n, tokens, nanos);
            if (fallback) {
                runtime.metrics().precisionFallback();
            }
        };
        if (task == TaskKind.EMBED) {
            EncoderScoring.Embedding[] e =
                    EncoderScoring.embed(model, texts, maxLength, rows, maxTokens, slot.runner(), threads, metrics);
            for (EncoderScoring.Embedding x : e) {
                result.add(new ScoredRow(
                        x.vector(), null, Double.NaN, x.path(), slot.device().label(), null));
            }
        } else {
            EncoderScoring.Classification[] c =
                    EncoderScoring.classify(model, texts, maxLength, rows, maxTokens, slot.runner(), threads, metrics);
            for (EncoderScoring.Classification x : c) {
                result.add(new ScoredRow(
                        x.probabilities(),
                        x.label(),
                        x.score(),
                        x.path(),
                        slot.device().label(),
                        null));
            }
        }
        return result;
    }

    private static void fill(ScoredRow[] out, List<Integer> idx, List<ScoredRow> rows) {
        for (int j = 0; j < idx.size(); j++) {
            out[idx.get(j)] = rows.get(j);
        }
    }

    private ScoredRow fail(String id, String problem, Throwable cause, String device) {
        runtime.metrics().failedRow();
        String msg = "row " + id + ": " + problem;
        if (onError == OnError.FAIL) {
            throw new RowFailure(msg + " (set spark.attune.onError=null to keep going with a null result)", cause);
        }
        return new ScoredRow(null, null, Double.NaN, null, device, msg);
    }

    /** Why a text cannot be scored (too many characters, an unpaired surrogate), or null. */
    public static String check(String text, int maxChars) {
        if (text == null) {
            return null;
        }
        if (text.length() > maxChars) {
            return "text has " + text.length() + " characters, more than " + AttuneSettings.MAX_TEXT_CHARS_KEY + "="
                    + maxChars;
        }
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            if (Character.isHighSurrogate(c)) {
                if (i + 1 >= text.length() || !Character.isLowSurrogate(text.charAt(i + 1))) {
                    return "text has an unpaired UTF-16 surrogate at character " + i;
                }
                i++;
            } else if (Character.isLowSurrogate(c)) {
                return "text has an unpaired UTF-16 surrogate at character " + i;
            }
        }
        return null;
    }
}

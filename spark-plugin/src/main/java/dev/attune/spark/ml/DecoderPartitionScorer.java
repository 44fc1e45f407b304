package dev.attune.spark.ml;

import dev.attune.kernels.select.UnsupportedPathException;
import dev.attune.model.DecoderModel;
import dev.attune.model.ModelFormatException;
import dev.attune.runtime.AttuneRuntime;
import dev.attune.runtime.DeviceSlot;
import dev.attune.runtime.OnError;
import dev.attune.runtime.RowFailure;
import dev.attune.spark.ExecutorRuntime;
import dev.attune.task.LabelChoice;
import dev.attune.task.LogLikelihood;
import dev.attune.task.PartitionScorer;
import dev.attune.task.RowTooLongException;
import dev.attune.task.ScoreRequest;
import dev.attune.task.SequenceScore;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.apache.spark.TaskContext;

/**
 * Scores the rows of one partition chunk with a decoder, for {@link SequenceScorer}, the SQL
 * functions {@code attune_loglik} / {@code attune_choose} and the scoring job: log-likelihood
 * ({@link #loglik}) or label choice ({@link #choose}), on the device the task uses, with the same
 * row-level error policy as the encoder scorer ({@link PartitionScorer}):
 * <ul>
 *   <li>every text, prompt and candidate is checked first ({@code spark.attune.maxTextChars},
 *   unpaired surrogates); a choice row with no candidates, or an empty or null candidate, is that
 *   row's error;</li>
 *   <li>the chunk's rows are scored together in length-bucketed batches
 *   ({@code batchRows} rows, {@code spark.attune.batch.maxTokens} tokens);</li>
 *   <li>a row longer than the model's context is that row's error; any other failure of a batch
 *   re-runs its rows one by one to find the row at fault;</li>
 *   <li>a log-probability that is NaN or infinite (an overflow) is that row's error, naming model and path;</li>
 *   <li>{@code onError=fail}: the first failing row fails the task, named by its id;
 *   {@code onError=null}: it gets a null result and the error, every other row is kept.</li>
 * </ul>
 *
 * <p>The model is loaded once per executor JVM ({@link AttuneRuntime#decoder}); a model that is
 * an encoder fails the task with a message saying so. A real GPU computes decoder work on the
 * CPU ({@link AttuneRuntime#decoderRunner}). Every batch is counted in the executor's metrics
 * (prefill tokens, rows per path).
 *
 * <p>Threading: one instance per task thread; the device's permits are held while a chunk runs.
 */
public final class DecoderPartitionScorer {

    /** Default rows per decoder batch when neither the caller nor spark.attune.batch.size sets one. */
    public static final int DEFAULT_BATCH_ROWS = 16;

    /**
     * One row's result: {@code score} for log-likelihood, {@code choice} for label choice (null
     * for a null input or a failed row), the device and path that computed it, the error of a
     * failed row (with onError=null).
     */
    public record Result(SequenceScore score, LabelChoice.Choice choice, String device, String path, String error) {}

    /** A row that cannot be scored, by its index in the chunk. */
    private static final class RowAtFault extends RuntimeException {
        final int row;

        RowAtFault(int row, String message, Throwable cause) {
            super(message, cause);
            this.row = row;
        }
    }

    /** Scores the chunk's rows at the given indices, in that order. */
    @FunctionalInterface
    private interface Batch {
        Result[] run(int[] rows, LogLikelihood scorer, LogLikelihood.Listener listener);
    }

    private final AttuneRuntime runtime;
    private final String modelSpec;
    private final int batchRows;
    private final int maxTokens;
    private final OnError onError;
    private final boolean lengthNormalize;
    private final boolean truncateLeft;

    /**
     * @param batchRows       rows per batch; 0 = spark.attune.batch.size, and when that is 0 too, {@link #DEFAULT_BATCH_ROWS}
     * @param maxTokens       tokens per batch; 0 = spark.attune.batch.maxTokens
     * @param lengthNormalize label choice compares mean log-probabilities per token instead of sums
     * @param truncateLeft    rows longer than the context keep their last tokens instead of failing
     */
    public DecoderPartitionScorer(
            AttuneRuntime runtime,
            String modelSpec,
            int batchRows,
            int maxTokens,
            OnError onError,
            boolean lengthNormalize,
            boolean truncateLeft) {
        this.runtime = runtime;
        this.modelSpec = modelSpec;
        this.batchRows = batchRows;
        this.maxTokens = maxTokens;
        this.onError = onError;
        this.lengthNormalize = lengthNormalize;
        this.truncateLeft = truncateLeft;
    }

    /** Log-likelihood of each row, in input order; a null text gives a result with a null score. */
    public List<Result> loglik(List<ScoreRequest> rows, List<String> ids, TaskContext tc) {
        int maxChars = runtime.settings().maxTextChars();
        String[] problems = new String[rows.size()];
        boolean[] skip = new boolean[rows.size()];
        for (int i = 0; i < rows.size(); i++) {
            ScoreRequest r = rows.get(i);
            skip[i] = r == null || r.text() == null;
            if (!skip[i]) {
                String p = PartitionScorer.check(r.text(), maxChars);
                problems[i] = p != null ? p : prompt(PartitionScorer.check(r.prompt(), maxChars));
            }
        }
        return scoreAll(rows.size(), ids, tc, problems, skip, (idx, scorer, listener) -> {
            List<ScoreRequest> sub = Arrays.stream(idx).mapToObj(rows::get).toList();
            SequenceScore[] s;
            try {
                s = scorer.score(sub, listener);
            } catch (RowTooLongException e) {
                throw new RowAtFault(idx[e.row()], tooLong(e), e);
            }
            Result[] out = new Result[idx.length];
            for (int j = 0; j < idx.length; j++) {
                out[j] = new Result(s[j], null, s[j].device(), s[j].path(), null);
            }
            return out;
        });
    }

    /** The best candidate of each row, in input order; a null prompt or null candidates give a null choice. */
    public List<Result> choose(List<LabelChoice.Request> rows, List<String> ids, TaskContext tc) {
        int maxChars = runtime.settings().maxTextChars();
        String[] problems = new String[rows.size()];
        boolean[] skip = new boolean[rows.size()];
        for (int i = 0; i < rows.size(); i++) {
            LabelChoice.Request r = rows.get(i);
            skip[i] = r == null || r.prompt() == null || r.labels() == null;
            if (!skip[i]) {
                problems[i] = prompt(PartitionScorer.check(r.prompt(), maxChars));
                if (problems[i] == null && r.labels().isEmpty()) {
                    problems[i] = "no candidate labels";
                }
                for (int c = 0; problems[i] == null && c < r.labels().size(); c++) {
                    String l = r.labels().get(c);
                    problems[i] = l == null
                            ? "candidate " + c + " is null"
                            : l.isEmpty()
                                    ? "candidate " + c + " is empty"
                                    : PartitionScorer.check(l, maxChars) == null
                                            ? null
                                            : "candidate " + c + ": " + PartitionScorer.check(l, maxChars);
                }
            }
        }
        LabelChoice.Choice[] none = new LabelChoice.Choice[0];
        return scoreAll(rows.size(), ids, tc, problems, skip, (idx, scorer, listener) -> {
            List<LabelChoice.Request> sub =
                    Arrays.stream(idx).mapToObj(rows::get).toList();
            LabelChoice.Choice[] c = none;
            try {
                c = new LabelChoice(scorer, lengthNormalize).choose(sub, listener);
            } catch (RowTooLongException e) {
                // The index is the candidate's among all candidates of the batch's rows, in order.
                int k = e.row();
                for (int j = 0; j < idx.length; j++) {
                    int n = sub.get(j).labels().size();
                    if (k < n) {
                        throw new RowAtFault(idx[j], "candidate " + k + ": " + tooLong(e), e);
                    }
                    k -= n;
                }
                throw e;
            }
            Result[] out = new Result[idx.length];
            for (int j = 0; j < idx.length; j++) {
                out[j] = new Result(null, c[j], c[j].device(), c[j].path(), null);
            }
            return out;
        });
    }

    /**
     * The {@code SequenceScorer.LOGLIK_TYPE} value of a score (null for null): logprob, mean_logprob,
     * scored token count, and the scored tokens' log-probabilities in order.
     */
    public static org.apache.spark.sql.Row loglikValue(SequenceScore s) {
        if (s == null) {
            return null;
        }
        float[] lp = Arrays.copyOfRange(s.tokenLogprobs(), s.firstScored(), s.tokenLogprobs().length);
        return org.apache.spark.sql.RowFactory.create(
                s.logprob(), s.meanLogprob(), s.scoredTokens(), dev.attune.spark.SparkValues.floatSeq(lp));
    }

    /** The {@code SequenceScorer.CHOICE_TYPE} value of a choice (null for null): label, index, scores. */
    public static org.apache.spark.sql.Row choiceValue(LabelChoice.Choice c) {
        if (c == null) {
            return null;
        }
        List<Double> scores = new ArrayList<>(c.scores().length);
        for (double d : c.scores()) {
            scores.add(d);
        }
        return org.apache.spark.sql.RowFactory.create(
                c.label(),
                c.index(),
                scala.jdk.javaapi.CollectionConverters.asScala(scores).toSeq());
    }

    private static String prompt(String problem) {
        return problem == null ? null : "prompt: " + problem;
    }

    private String tooLong(RowTooLongException e) {
        return e.getMessage().replaceFirst("^row \\d+: ", "")
                + "; the transformer's truncateLeft keeps the last tokens";
    }

    private List<Result> scoreAll(
            int n, List<String> ids, TaskContext tc, String[] problems, boolean[] skip, Batch batch) {
        DecoderModel model = runtime.decoder(modelSpec); // an encoder, or a broken model, fails the task
        DeviceSlot slot = runtime.slotFor(ExecutorRuntime.placement(runtime, tc));
        AttuneRuntime.DecoderRunner dr = runtime.decoderRunner(slot);
        String device = dr.runner().device().label();
        Result[] out = new Result[n];
        List<Integer> todo = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            if (skip[i]) {
                out[i] = new Result(null, null, null, null, null);
            } else if (problems[i] != null) {
                out[i] = fail(ids.get(i), problems[i], null, device);
            } else {
                todo.add(i);
            }
        }
        if (todo.isEmpty()) {
            return List.of(out);
        }
        int configured = runtime.settings().batchSize();
        int rows = batchRows > 0 ? batchRows : configured > 0 ? configured : DEFAULT_BATCH_ROWS;
        int tokens = maxTokens > 0 ? maxTokens : runtime.settings().batchMaxTokens();
        LogLikelihood.Listener metrics = (r, t, choice, nanos) ->
                runtime.metrics().decoderBatch(choice.path().id(), r, t, nanos);
        slot.permits().acquireUninterruptibly();
        try {
            LogLikelihood scorer =
                    new LogLikelihood(model, dr.runner(), runtime.threadsForThisTask(), rows, tokens, truncateLeft);
            while (!todo.isEmpty()) {
                int[] idx = todo.stream().mapToInt(Integer::intValue).toArray();
                try {
                    fill(out, idx, batch.run(idx, scorer, metrics), ids, device);
                    todo.clear();
                } catch (RowAtFault f) {
                    out[f.row] = fail(ids.get(f.row), f.getMessage(), f.getCause(), device);
                    todo.remove(Integer.valueOf(f.row));
                } catch (RowFailure | UnsupportedPathException | ModelFormatException e) {
                    throw e; // a forced path the device cannot run, or a broken model, is not a row's fault
                } catch (RuntimeException whole) {
                    for (int i : idx) {
                        try {
                            fill(out, new int[] {i}, batch.run(new int[] {i}, scorer, metrics), ids, device);
                        } catch (RowFailure | UnsupportedPathException | ModelFormatException e) {
                            throw e;
                        } catch (RuntimeException e) {
                            out[i] = fail(ids.get(i), e.getMessage(), e, device);
                        }
                    }
                    todo.clear();
                }
            }
        } finally {
            slot.permits().release();
        }
        return List.of(out);
    }

    /** Stores a batch's results; a result that is not a finite number is its row's error. */
    private void fill(Result[] out, int[] idx, Result[] r, List<String> ids, String device) {
        for (int j = 0; j < idx.length; j++) {
            String bad = nonFinite(r[j]);
            out[idx[j]] = bad == null ? r[j] : fail(ids.get(idx[j]), bad, null, device);
        }
    }

    /** Why {@code r} is not a usable result (a NaN or infinite log-probability), or null. */
    private String nonFinite(Result r) {
        double v = Double.NaN;
        boolean finite = true;
        if (r.score() != null) {
            v = r.score().logprob();
            finite = Double.isFinite(v);
        } else if (r.choice() != null) {
            for (double d : r.choice().scores()) {
                if (!Double.isFinite(d)) {
                    v = d;
                    finite = false;
                    break;
                }
            }
        }
        return finite
                ? null
                : "model " + modelSpec + " on path " + r.path() + " gave a log-probability of " + v
                        + " (a non-finite output)";
    }

    private Result fail(String id, String problem, Throwable cause, String device) {
        runtime.metrics().failedRow();
        String msg = "row " + id + ": " + problem;
        if (onError == OnError.FAIL) {
            throw new RowFailure(msg + " (set spark.attune.onError=null to keep going with a null result)", cause);
        }
        return new Result(null, null, device, null, msg);
    }
}

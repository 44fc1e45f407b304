package dev.attune.spark.sql;

import dev.attune.runtime.AttuneRuntime;
import dev.attune.runtime.ChunkedIterator;
import dev.attune.runtime.OnError;
import dev.attune.runtime.ScoredRow;
import dev.attune.spark.ExecutorRuntime;
import dev.attune.spark.SparkValues;
import dev.attune.spark.ml.DecoderPartitionGenerator;
import dev.attune.spark.ml.DecoderPartitionScorer;
import dev.attune.task.LabelChoice;
import dev.attune.task.PartitionScorer;
import dev.attune.task.ScoreRequest;
import dev.attune.task.TaskKind;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.List;
import org.apache.spark.TaskContext;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import scala.collection.Iterator;
import scala.jdk.javaapi.CollectionConverters;

/**
 * The partition function {@link BatchSqlScoring} puts in place of row-at-a-time SQL calls: reads
 * a partition in chunks, scores each call's text column for the whole chunk in length-grouped
 * batches, and appends one result column per call to every row. A row that cannot be scored gives
 * NULL under {@code spark.attune.onError=null} (logged, naming the row) and fails the task
 * otherwise, as the row-at-a-time function does.
 */
final class BatchScoringFunction extends scala.runtime.AbstractFunction1<Iterator<Row>, Iterator<Row>>
        implements Serializable {

    private static final Logger LOG = LoggerFactory.getLogger(BatchScoringFunction.class);
    static final int CHUNK = 1024;

    /**
     * One SQL call: its task, model (null = spark.attune.model), the input columns holding its
     * per-row arguments (text; text and prompt; prompt and labels) and, for generation, its options.
     */
    record Call(TaskKind kind, String model, int[] argIndexes, GenerateOptions generate) implements Serializable {

        Call(TaskKind kind, String model, int[] argIndexes) {
            this(kind, model, argIndexes, null);
        }

        int textIndex() {
            return argIndexes[0];
        }
    }

    private final List<Call> calls;

    BatchScoringFunction(List<Call> calls) {
        this.calls = List.copyOf(calls);
    }

    @Override
    public Iterator<Row> apply(Iterator<Row> input) {
        AttuneRuntime rt = ExecutorRuntime.get();
        OnError onError = rt.settings().onError();
        TaskContext tc = TaskContext.get();
        java.util.Iterator<Row> out =
                new ChunkedIterator<Row, Row>(CollectionConverters.asJava(input), CHUNK, (chunk, first) -> {
                    List<List<Object>> results = new ArrayList<>();
                    for (Call c : calls) {
                        results.add(score(rt, c, chunk, first, onError, tc));
                    }
                    List<Row> rows = new ArrayList<>(chunk.size());
                    for (int r = 0; r < chunk.size(); r++) {
                        Row row = chunk.get(r);
                        Object[] v = new Object[row.size() + calls.size()];
                        for (int i = 0; i < row.size(); i++) {
                            v[i] = row.get(i);
                        }
                        for (int c = 0; c < calls.size(); c++) {
                            v[row.size() + c] = results.get(c).get(r);
                        }
                        rows.add(RowFactory.create(v));
                    }
                    return rows;
                });
        return CollectionConverters.asScala(out);
    }

    /** One call's results for a chunk, in row order. */
    private static List<Object> score(
            AttuneRuntime rt, Call c, List<Row> chunk, long first, OnError onError, TaskContext tc) {
        List<String> texts = new ArrayList<>(chunk.size());
        List<String> ids = new ArrayList<>(chunk.size());
        String fn = AttuneFunctions.nameOf(c.kind());
        for (int r = 0; r < chunk.size(); r++) {
            Row row = chunk.get(r);
            texts.add(string(row, c.textIndex()));
            ids.add("#" + (first + r) + " of partition " + (tc == null ? "?" : tc.partitionId()) + " (" + fn + ")");
        }
        String model = c.model() != null ? c.model() : rt.settings().model();
        if (c.kind() == TaskKind.GENERATE) {
            return generate(rt, c, texts, ids, onError, tc);
        }
        if (c.kind() == TaskKind.LOGLIK || c.kind() == TaskKind.CHOOSE) {
            return scoreDecoder(rt, c, chunk, texts, ids, model, onError, tc);
        }
        TaskKind task = c.kind();
        List<ScoredRow> scored = new PartitionScorer(rt, model, task, 0, onError, 0)
                .score(texts, ids, ExecutorRuntime.placement(rt, tc));
        List<Object> out = new ArrayList<>(scored.size());
        for (ScoredRow s : scored) {
            if (s.error() != null) {
                LOG.warn("Attune: {}", s.error());
            }
            if (task == TaskKind.EMBED) {
                out.add(s.vector() == null ? null : SparkValues.floatSeq(s.vector()));
            } else {
                out.add(s.label() == null ? null : RowFactory.create(s.label(), s.score()));
            }
        }
        return out;
    }

    private static List<Object> generate(
            AttuneRuntime rt, Call c, List<String> prompts, List<String> ids, OnError onError, TaskContext tc) {
        GenerateOptions o = c.generate() != null ? c.generate() : GenerateOptions.DEFAULT;
        String model = o.model() != null ? o.model() : rt.settings().model();
        List<DecoderPartitionGenerator.Request> req = new ArrayList<>(prompts.size());
        for (String p : prompts) {
            req.add(new DecoderPartitionGenerator.Request(p, null, null));
        }
        List<Object> out = new ArrayList<>(prompts.size());
        for (DecoderPartitionGenerator.Result r : new DecoderPartitionGenerator(
                        rt, model, o.params(), 0, 0, onError, o.truncateLeft())
                .generate(req, ids, tc)) {
            if (r.error() != null) {
                LOG.warn("Attune: {}", r.error());
            }
            out.add(DecoderPartitionGenerator.generationValue(r.text()));
        }
        return out;
    }

    private static String string(Row row, int i) {
        return row.isNullAt(i) ? null : row.getString(i);
    }

    private static List<Object> scoreDecoder(
            AttuneRuntime rt,
            Call c,
            List<Row> chunk,
            List<String> first,
            List<String> ids,
            String model,
            OnError onError,
            TaskContext tc) {
        DecoderPartitionScorer scorer = new DecoderPartitionScorer(rt, model, 0, 0, onError, false, false);
        List<DecoderPartitionScorer.Result> scored;
        if (c.kind() == TaskKind.LOGLIK) {
            List<ScoreRequest> req = new ArrayList<>(chunk.size());
            for (int r = 0; r < chunk.size(); r++) {
                req.add(new ScoreRequest(
                        c.argIndexes().length > 1 ? string(chunk.get(r), c.argIndexes()[1]) : null, first.get(r)));
            }
            scored = scorer.loglik(req, ids, tc);
        } else {
            List<LabelChoice.Request> req = new ArrayList<>(chunk.size());
            for (int r = 0; r < chunk.size(); r++) {
                Row row = chunk.get(r);
                int li = c.argIndexes()[1];
                req.add(new LabelChoice.Request(
                        first.get(r), row.isNullAt(li) ? null : new ArrayList<>(row.<String>getList(li))));
            }
            scored = scorer.choose(req, ids, tc);
        }
        List<Object> out = new ArrayList<>(scored.size());
        for (DecoderPartitionScorer.Result s : scored) {
            if (s.error() != null) {
                LOG.warn("Attune: {}", s.error());
            }
            out.add(
                    c.kind() == TaskKind.LOGLIK
                            ? DecoderPartitionScorer.loglikValue(s.score())
                            : DecoderPartitionScorer.choiceValue(s.choice()));
        }
        return out;
    }
}

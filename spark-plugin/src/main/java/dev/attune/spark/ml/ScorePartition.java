package dev.attune.spark.ml;

import dev.attune.runtime.AttuneRuntime;
import dev.attune.runtime.ChunkedIterator;
import dev.attune.runtime.ScoredRow;
import dev.attune.runtime.TaskPlacement;
import dev.attune.spark.ExecutorRuntime;
import dev.attune.spark.SparkValues;
import dev.attune.task.PartitionScorer;
import dev.attune.task.TaskKind;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import org.apache.spark.TaskContext;
import org.apache.spark.api.java.function.MapPartitionsFunction;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;

/**
 * The task side of the transformers: reads a partition in chunks of {@link #CHUNK} rows, scores
 * each chunk in length-grouped batches on the task's device, and emits every input row with the
 * new columns appended, in input order. Rows stream: a partition is never held whole.
 */
final class ScorePartition implements MapPartitionsFunction<Row, Row> {

    static final int CHUNK = 1024;

    private final ScoreSettings s;

    ScorePartition(ScoreSettings s) {
        this.s = s;
    }

    @Override
    public Iterator<Row> call(Iterator<Row> input) {
        AttuneRuntime rt = ExecutorRuntime.get();
        PartitionScorer scorer =
                new PartitionScorer(rt, s.model(), s.task(), s.batchRows(), s.onError(), s.maxLength());
        TaskContext tc = TaskContext.get();
        TaskPlacement placement = ExecutorRuntime.placement(rt, tc);
        return new ChunkedIterator<Row, Row>(input, CHUNK, (in, first) -> {
            List<String> texts = new ArrayList<>(in.size());
            List<String> ids = new ArrayList<>(in.size());
            for (int i = 0; i < in.size(); i++) {
                Row r = in.get(i);
                texts.add(r.isNullAt(s.textIndex()) ? null : r.getString(s.textIndex()));
                ids.add(
                        s.idIndex() >= 0
                                ? String.valueOf(r.get(s.idIndex()))
                                : "#" + (first + i) + " of partition " + (tc == null ? "?" : tc.partitionId()));
            }
            List<ScoredRow> scored = scorer.score(texts, ids, placement);
            List<Row> out = new ArrayList<>(in.size());
            for (int i = 0; i < in.size(); i++) {
                out.add(append(in.get(i), scored.get(i)));
            }
            return out;
        });
    }

    private Row append(Row in, ScoredRow r) {
        List<Object> v = new ArrayList<>(in.size() + 6);
        for (int i = 0; i < in.size(); i++) {
            v.add(in.get(i));
        }
        if (s.task() == TaskKind.EMBED) {
            v.add(r.vector() == null ? null : SparkValues.floatSeq(r.vector()));
        } else {
            v.add(r.label());
            v.add(r.label() == null ? null : r.score());
            if (s.withProbabilities()) {
                v.add(r.vector() == null ? null : SparkValues.floatSeq(r.vector()));
            }
        }
        if (s.withPath()) {
            v.add(r.path());
        }
        if (s.withDevice()) {
            v.add(r.device());
        }
        if (s.withError()) {
            v.add(r.error());
        }
        return RowFactory.create(v.toArray());
    }
}

package dev.attune.spark.ml;

import dev.attune.runtime.AttuneRuntime;
import dev.attune.runtime.ChunkedIterator;
import dev.attune.runtime.OnError;
import dev.attune.spark.ExecutorRuntime;
import dev.attune.task.LabelChoice;
import dev.attune.task.ScoreRequest;
import dev.attune.task.TaskKind;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import org.apache.spark.TaskContext;
import org.apache.spark.api.java.function.MapPartitionsFunction;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;

/**
 * The task side of {@link SequenceScorer}: reads a partition in chunks of {@link ScorePartition#CHUNK}
 * rows, scores each chunk with {@link DecoderPartitionScorer}, and emits every input row with the
 * result columns appended, in input order.
 */
final class SequencePartition implements MapPartitionsFunction<Row, Row> {

    /** What the tasks need, captured on the driver; indices are -1 for columns not given. */
    record Settings(
            String model,
            TaskKind task,
            int batchRows,
            int maxTokens,
            OnError onError,
            int textIndex,
            int promptIndex,
            int choicesIndex,
            int idIndex,
            boolean lengthNormalize,
            boolean truncateLeft,
            boolean withPath,
            boolean withDevice,
            boolean withError)
            implements Serializable {}

    private final Settings s;

    SequencePartition(Settings s) {
        this.s = s;
    }

    @Override
    public Iterator<Row> call(Iterator<Row> input) {
        AttuneRuntime rt = ExecutorRuntime.get();
        DecoderPartitionScorer scorer = new DecoderPartitionScorer(
                rt, s.model(), s.batchRows(), s.maxTokens(), s.onError(), s.lengthNormalize(), s.truncateLeft());
        TaskContext tc = TaskContext.get();
        return new ChunkedIterator<Row, Row>(input, ScorePartition.CHUNK, (in, first) -> {
            List<String> ids = new ArrayList<>(in.size());
            for (int i = 0; i < in.size(); i++) {
                ids.add(
                        s.idIndex() >= 0
                                ? String.valueOf(in.get(i).get(s.idIndex()))
                                : "#" + (first + i) + " of partition " + (tc == null ? "?" : tc.partitionId()));
            }
            List<DecoderPartitionScorer.Result> scored;
            if (s.task() == TaskKind.CHOOSE) {
                List<LabelChoice.Request> req = new ArrayList<>(in.size());
                for (Row r : in) {
                    req.add(new LabelChoice.Request(
                            string(r, s.textIndex()),
                            r.isNullAt(s.choicesIndex()) ? null : r.<String>getList(s.choicesIndex())));
                }
                scored = scorer.choose(req, ids, tc);
            } else {
                List<ScoreRequest> req = new ArrayList<>(in.size());
                for (Row r : in) {
                    req.add(new ScoreRequest(
                            s.promptIndex() < 0 ? null : string(r, s.promptIndex()), string(r, s.textIndex())));
                }
                scored = scorer.loglik(req, ids, tc);
            }
            List<Row> out = new ArrayList<>(in.size());
            for (int i = 0; i < in.size(); i++) {
                out.add(append(in.get(i), scored.get(i)));
            }
            return out;
        });
    }

    private static String string(Row r, int i) {
        return r.isNullAt(i) ? null : r.getString(i);
    }

    private Row append(Row in, DecoderPartitionScorer.Result r) {
        List<Object> v = new ArrayList<>(in.size() + 4);
        for (int i = 0; i < in.size(); i++) {
            v.add(in.get(i));
        }
        v.add(
                s.task() == TaskKind.CHOOSE
                        ? DecoderPartitionScorer.choiceValue(r.choice())
                        : DecoderPartitionScorer.loglikValue(r.score()));
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

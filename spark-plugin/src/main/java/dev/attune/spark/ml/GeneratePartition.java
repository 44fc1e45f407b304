package dev.attune.spark.ml;

import dev.attune.model.prompt.ChatMessage;
import dev.attune.runtime.AttuneRuntime;
import dev.attune.runtime.ChunkedIterator;
import dev.attune.runtime.OnError;
import dev.attune.spark.ExecutorRuntime;
import dev.attune.task.generate.SamplingParams;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import org.apache.spark.TaskContext;
import org.apache.spark.api.java.function.MapPartitionsFunction;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;

/**
 * The task side of {@link TextGenerator}: reads a partition in chunks of {@link ScorePartition#CHUNK}
 * rows, generates for each chunk with {@link DecoderPartitionGenerator}, and emits every input row
 * with the result columns appended, in input order.
 */
final class GeneratePartition implements MapPartitionsFunction<Row, Row> {

    /** What the tasks need, captured on the driver; indices are -1 for columns not given. */
    record Settings(
            String model,
            SamplingParams params,
            int maxActive,
            int maxTokens,
            OnError onError,
            int promptIndex,
            int messagesIndex,
            int keyIndex,
            int idIndex,
            boolean withPath,
            boolean withDevice,
            boolean withError,
            boolean truncateLeft)
            implements Serializable {}

    private final Settings s;

    GeneratePartition(Settings s) {
        this.s = s;
    }

    @Override
    public Iterator<Row> call(Iterator<Row> input) {
        AttuneRuntime rt = ExecutorRuntime.get();
        DecoderPartitionGenerator generator = new DecoderPartitionGenerator(
                rt, s.model(), s.params(), s.maxActive(), s.maxTokens(), s.onError(), s.truncateLeft());
        TaskContext tc = TaskContext.get();
        return new ChunkedIterator<Row, Row>(input, ScorePartition.CHUNK, (in, first) -> {
            List<String> ids = new ArrayList<>(in.size());
            List<DecoderPartitionGenerator.Request> req = new ArrayList<>(in.size());
            for (int i = 0; i < in.size(); i++) {
                Row r = in.get(i);
                ids.add(
                        s.idIndex() >= 0
                                ? String.valueOf(r.get(s.idIndex()))
                                : "#" + (first + i) + " of partition " + (tc == null ? "?" : tc.partitionId()));
                String key =
                        s.keyIndex() >= 0 && !r.isNullAt(s.keyIndex()) ? String.valueOf(r.get(s.keyIndex())) : null;
                req.add(
                        s.messagesIndex() >= 0
                                ? new DecoderPartitionGenerator.Request(null, messages(r, s.messagesIndex()), key)
                                : new DecoderPartitionGenerator.Request(
                                        r.isNullAt(s.promptIndex()) ? null : r.getString(s.promptIndex()), null, key));
            }
            List<DecoderPartitionGenerator.Result> done = generator.generate(req, ids, tc);
            List<Row> out = new ArrayList<>(in.size());
            for (int i = 0; i < in.size(); i++) {
                out.add(append(in.get(i), done.get(i)));
            }
            return out;
        });
    }

    /** The chat messages of a row's {@code array<struct<role, content>>} column, or null for null. */
    static List<ChatMessage> messages(Row r, int index) {
        if (r.isNullAt(index)) {
            return null;
        }
        List<Row> list = r.getList(index);
        List<ChatMessage> m = new ArrayList<>(list.size());
        for (Row e : list) {
            m.add(
                    e == null
                            ? null
                            : new ChatMessage(
                                    e.isNullAt(e.fieldIndex("role")) ? null : e.getString(e.fieldIndex("role")),
                                    e.isNullAt(e.fieldIndex("content")) ? null : e.getString(e.fieldIndex("content"))));
        }
        return m;
    }

    private Row append(Row in, DecoderPartitionGenerator.Result r) {
        List<Object> v = new ArrayList<>(in.size() + 4);
        for (int i = 0; i < in.size(); i++) {
            v.add(in.get(i));
        }
        v.add(DecoderPartitionGenerator.generationValue(r.text()));
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

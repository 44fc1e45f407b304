package dev.attune.spark.sql;

import dev.attune.runtime.AttuneRuntime;
import dev.attune.runtime.OnError;
import dev.attune.runtime.ScoredRow;
import dev.attune.spark.ExecutorRuntime;
import dev.attune.spark.ml.DecoderPartitionGenerator;
import dev.attune.spark.ml.DecoderPartitionScorer;
import dev.attune.task.LabelChoice;
import dev.attune.task.PartitionScorer;
import dev.attune.task.ScoreRequest;
import dev.attune.task.TaskKind;
import java.util.List;
import org.apache.spark.TaskContext;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The bodies of the SQL functions, run on the executors (row at a time, where the batching rule
 * did not apply: the results are the same). The model is the one named in the call,
 * else {@code spark.attune.model}; it is loaded once per executor JVM. With
 * {@code spark.attune.onError=null} a row that cannot be scored gives SQL NULL (and a warning in
 * the executor log naming it); by default the task fails naming the row.
 */
final class SqlScoring {

    private static final Logger LOG = LoggerFactory.getLogger(SqlScoring.class);

    private SqlScoring() {}

    static float[] embed(String text, String model) {
        ScoredRow r = score(text, model, TaskKind.EMBED, "attune_embed");
        return r == null ? null : r.vector();
    }

    static Row classify(String text, String model) {
        ScoredRow r = score(text, model, TaskKind.CLASSIFY, "attune_classify");
        return r == null || r.label() == null ? null : RowFactory.create(r.label(), r.score());
    }

    static Row loglik(String text, String prompt, String model) {
        if (text == null) {
            return null;
        }
        AttuneRuntime rt = ExecutorRuntime.get();
        DecoderPartitionScorer.Result r = decoder(rt, model)
                .loglik(
                        List.of(new ScoreRequest(prompt, text)),
                        List.of(AttuneFunctions.LOGLIK + " on text '" + shorten(text) + "'"),
                        TaskContext.get())
                .get(0);
        warn(r.error());
        return DecoderPartitionScorer.loglikValue(r.score());
    }

    static Row choose(String prompt, scala.collection.Seq<String> labels, String model) {
        if (prompt == null || labels == null) {
            return null;
        }
        AttuneRuntime rt = ExecutorRuntime.get();
        List<String> l = new java.util.ArrayList<>(scala.jdk.javaapi.CollectionConverters.asJava(labels));
        DecoderPartitionScorer.Result r = decoder(rt, model)
                .choose(
                        List.of(new LabelChoice.Request(prompt, l)),
                        List.of(AttuneFunctions.CHOOSE + " on prompt '" + shorten(prompt) + "'"),
                        TaskContext.get())
                .get(0);
        warn(r.error());
        return DecoderPartitionScorer.choiceValue(r.choice());
    }

    static Row generate(String prompt, GenerateOptions options) {
        if (prompt == null) {
            return null;
        }
        AttuneRuntime rt = ExecutorRuntime.get();
        String m = options.model() == null ? rt.settings().model() : options.model();
        DecoderPartitionGenerator.Result r = new DecoderPartitionGenerator(
                        rt, m, options.params(), 1, 0, rt.settings().onError(), options.truncateLeft())
                .generate(
                        List.of(new DecoderPartitionGenerator.Request(prompt, null, null)),
                        List.of(AttuneFunctions.GENERATE + " on prompt '" + shorten(prompt) + "'"),
                        TaskContext.get())
                .get(0);
        warn(r.error());
        return DecoderPartitionGenerator.generationValue(r.text());
    }

    private static DecoderPartitionScorer decoder(AttuneRuntime rt, String model) {
        String m = model == null ? rt.settings().model() : model;
        return new DecoderPartitionScorer(rt, m, 1, 0, rt.settings().onError(), false, false);
    }

    private static String shorten(String text) {
        return text.length() > 40 ? text.substring(0, 40) + "..." : text;
    }

    private static void warn(String error) {
        if (error != null) {
            LOG.warn("Attune: {}", error);
        }
    }

    private static ScoredRow score(String text, String model, TaskKind task, String fn) {
        if (text == null) {
            return null;
        }
        AttuneRuntime rt = ExecutorRuntime.get();
        String m = model == null ? rt.settings().model() : model;
        OnError onError = rt.settings().onError();
        String id = fn + " on text '" + (text.length() > 40 ? text.substring(0, 40) + "..." : text) + "'";
        ScoredRow r = new PartitionScorer(rt, m, task, 1, onError, 0)
                .score(List.of(text), List.of(id), ExecutorRuntime.placement(rt, TaskContext.get()))
                .get(0);
        if (r.error() != null) {
            LOG.warn("Attune: {}", r.error());
        }
        return r;
    }
}

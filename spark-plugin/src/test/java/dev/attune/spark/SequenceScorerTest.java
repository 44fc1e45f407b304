package dev.attune.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.attune.kernels.cpu.CpuThreads;
import dev.attune.kernels.device.DeviceInfo;
import dev.attune.kernels.select.UserOverrides;
import dev.attune.model.DecoderModel;
import dev.attune.model.llama.RandomDecoderCheckpoint;
import dev.attune.runtime.AttuneRuntime;
import dev.attune.runtime.DeviceRunner;
import dev.attune.spark.ml.SequenceScorer;
import dev.attune.task.LabelChoice;
import dev.attune.task.LogLikelihood;
import dev.attune.task.ScoreRequest;
import dev.attune.task.SequenceScore;
import dev.attune.testing.SparkSessions;
import dev.attune.testing.TestTexts;
import dev.attune.testing.decoder.TestTokenizers;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link SequenceScorer} and the SQL functions {@code attune_loglik} / {@code attune_choose} in
 * local mode on the CPU, against {@link LogLikelihood} and {@link LabelChoice} run directly
 * (without Spark) on the same rows, with a random-weight Llama checkpoint and the real Llama 2
 * tokenizer. The context is 64 positions, so a long text is a row too long for the model.
 * Results agree within 1e-6 relative: rows batched with other rows round in float32 a little
 * differently from the reference's batches.
 */
@Timeout(300)
class SequenceScorerTest {

    static final double TOL = 1e-6;
    static final List<String> LABELS = List.of(" positive", " negative", " mixed feelings");

    @TempDir
    static Path tmp;

    static SparkSession spark;
    static Path modelDir;
    static DecoderModel model;
    static CpuThreads threads;
    static LogLikelihood direct;
    static List<String> texts;
    static List<String> prompts;

    @BeforeAll
    static void start() throws Exception {
        modelDir = tmp.resolve("llama");
        RandomDecoderCheckpoint.builder(RandomDecoderCheckpoint.ModelType.LLAMA)
                .numHeads(4)
                .numKvHeads(2)
                .headDim(16)
                .maxPositionEmbeddings(64)
                .initStd(0.3)
                .seed(20261203L)
                .build()
                .write(modelDir, TestTokenizers.dir("llama2"));
        model = DecoderModel.load(modelDir);
        threads = new CpuThreads(1);
        direct = new LogLikelihood(
                model, new DeviceRunner(DeviceInfo.cpu(), UserOverrides.NONE, 0.9), threads, 16, 16384, false);
        texts = new ArrayList<>();
        prompts = new ArrayList<>();
        for (String t : TestTexts.VARIED) {
            if (texts.size() == 20) {
                break;
            }
            if (model.tokenize(t).length <= 40) {
                texts.add(t);
                prompts.add(texts.size() % 3 == 0 ? null : "Review " + texts.size() + ":");
            }
        }
        assertEquals(20, texts.size(), "enough short test texts");
        texts.set(7, null);
        spark = SparkSessions.start(
                "local[2]",
                Map.of(
                        "spark.sql.extensions",
                        "dev.attune.spark.sql.AttuneExtensions",
                        "spark.attune.model",
                        modelDir.toString()));
    }

    @AfterAll
    static void stop() {
        if (spark != null) {
            spark.stop();
        }
        if (model != null) {
            model.close();
            threads.close();
        }
    }

    /** id, text, prompt, choices; three partitions in id order. */
    static Dataset<Row> table(List<String> rowsText) {
        List<Row> rows = new ArrayList<>();
        for (int i = 0; i < rowsText.size(); i++) {
            rows.add(RowFactory.create(
                    (long) i,
                    rowsText.get(i),
                    prompts.get(i % prompts.size()),
                    i == 4
                            ? null
                            : scala.jdk.javaapi.CollectionConverters.asScala(LABELS)
                                    .toSeq()));
        }
        StructType schema = new StructType()
                .add("id", DataTypes.LongType)
                .add("text", DataTypes.StringType)
                .add("prompt", DataTypes.StringType)
                .add("choices", DataTypes.createArrayType(DataTypes.StringType));
        JavaSparkContext jsc = JavaSparkContext.fromSparkContext(spark.sparkContext());
        Dataset<Row> df = spark.createDataFrame(jsc.parallelize(rows, 3), schema);
        df.createOrReplaceTempView("t");
        return df;
    }

    static void assertSameScore(SequenceScore want, Row got, String what) {
        if (want == null) {
            assertNull(got, what);
            return;
        }
        assertNotNull(got, what);
        assertEquals(want.logprob(), got.getDouble(0), TOL * Math.max(1, Math.abs(want.logprob())), what + " logprob");
        assertEquals(
                want.meanLogprob(),
                got.getDouble(1),
                TOL * Math.max(1, Math.abs(want.meanLogprob())),
                what + " mean_logprob");
        assertEquals(want.scoredTokens(), got.getInt(2), what + " tokens");
        List<Float> lp = got.getList(3);
        assertEquals(want.scoredTokens(), lp.size(), what + " token_logprobs");
        for (int p = 0; p < lp.size(); p++) {
            float w = want.tokenLogprobs()[want.firstScored() + p];
            assertEquals(w, lp.get(p), TOL * Math.max(1, Math.abs(w)), what + " token " + p);
        }
    }

    static List<SequenceScore> directLoglik(boolean withPrompt) {
        List<ScoreRequest> req = new ArrayList<>();
        for (int i = 0; i < texts.size(); i++) {
            req.add(new ScoreRequest(withPrompt ? prompts.get(i) : null, texts.get(i)));
        }
        return Arrays.asList(direct.score(req));
    }

    static List<LabelChoice.Choice> directChoose(boolean normalize) {
        List<LabelChoice.Request> req = new ArrayList<>();
        for (int i = 0; i < texts.size(); i++) {
            req.add(new LabelChoice.Request(texts.get(i), i == 4 ? null : LABELS));
        }
        return Arrays.asList(new LabelChoice(direct, normalize).choose(req));
    }

    @Test
    void loglikEqualsLogLikelihoodDirectlyAndKeepsOrder() {
        List<Row> out = new SequenceScorer()
                .setInputCol("text")
                .setOutputCol("ll")
                .setBatchSize(4)
                .setPathCol("path")
                .setDeviceCol("device")
                .transform(table(texts))
                .collectAsList();
        List<SequenceScore> want = directLoglik(false);
        assertEquals(texts.size(), out.size());
        for (int i = 0; i < out.size(); i++) {
            Row r = out.get(i);
            assertEquals(i, r.getLong(0), "rows keep their order across partitions");
            assertSameScore(want.get(i), r.getStruct(r.fieldIndex("ll")), "row " + i);
            if (texts.get(i) == null) {
                assertNull(r.get(r.fieldIndex("path")), "a null text has no path");
            } else {
                assertEquals(want.get(i).path(), r.getString(r.fieldIndex("path")));
                assertEquals("cpu", r.getString(r.fieldIndex("device")));
            }
        }
        assertNull(out.get(7).get(out.get(7).fieldIndex("ll")), "null text gives a null result");
        // Each executor batch is counted: rows on the path, prefill tokens per second.
        var metrics = AttuneRuntime.currentOrNull().metrics();
        assertTrue(metrics.decoderRows(want.get(0).path()) >= texts.size() - 1, "decoder rows per path counted");
        assertTrue(metrics.prefillTokensPerSecond() > 0);
    }

    @Test
    void completionScoresOnlyTheCompletionTokens() {
        List<Row> out = new SequenceScorer()
                .setPromptCol("prompt")
                .transform(table(texts))
                .collectAsList();
        List<SequenceScore> want = directLoglik(true);
        List<SequenceScore> alone = directLoglik(false);
        int checked = 0;
        for (int i = 0; i < out.size(); i++) {
            Row ll = out.get(i).getStruct(out.get(i).fieldIndex("loglik"));
            assertSameScore(want.get(i), ll, "row " + i);
            if (texts.get(i) != null && prompts.get(i) != null) {
                int completion =
                        model.tokenize(prompts.get(i) + texts.get(i)).length - model.tokenize(prompts.get(i)).length;
                assertEquals(completion, ll.getInt(2), "row " + i + ": only the completion's tokens are scored");
                assertNotEquals(
                        alone.get(i).logprob(), ll.getDouble(0), "row " + i + ": the prompt conditions the text");
                checked++;
            }
        }
        assertTrue(checked > 10);
    }

    @Test
    void chooseReturnsTheBestLabelAsLabelChoiceDoes() {
        for (boolean normalize : new boolean[] {false, true}) {
            List<Row> out = new SequenceScorer()
                    .setChoicesCol("choices")
                    .setLengthNormalize(normalize)
                    .transform(table(texts))
                    .collectAsList();
            List<LabelChoice.Choice> want = directChoose(normalize);
            for (int i = 0; i < out.size(); i++) {
                Row c = out.get(i).getStruct(out.get(i).fieldIndex("choice"));
                if (want.get(i) == null) {
                    assertNull(c, "row " + i + ": null prompt or null candidates give null");
                    continue;
                }
                List<Double> scores = c.getList(2);
                assertEquals(LABELS.size(), scores.size());
                int best = 0;
                for (int k = 0; k < scores.size(); k++) {
                    assertEquals(want.get(i).scores()[k], scores.get(k), TOL * Math.max(1, Math.abs(scores.get(k))));
                    best = scores.get(k) > scores.get(best) ? k : best;
                }
                assertEquals(best, c.getInt(1), "row " + i + ": the max-scoring label");
                assertEquals(want.get(i).index(), c.getInt(1), "row " + i);
                assertEquals(LABELS.get(best), c.getString(0));
            }
            assertNull(out.get(4).get(out.get(4).fieldIndex("choice")));
        }
    }

    @Test
    void aRowLongerThanTheContextIsNullWithOnErrorNullAndFailsTheTaskOtherwise() {
        List<String> rows = new ArrayList<>(texts);
        String tooLong = TestTexts.longParagraph();
        assertTrue(model.tokenize(tooLong).length > 64);
        rows.set(5, tooLong);
        List<Row> out = new SequenceScorer()
                .setOnError("null")
                .setIdCol("id")
                .transform(table(rows))
                .collectAsList();
        List<SequenceScore> want = directLoglik(false);
        for (int i = 0; i < out.size(); i++) {
            Row r = out.get(i);
            String err = r.getString(r.fieldIndex("attune_error"));
            if (i == 5) {
                assertNull(r.get(r.fieldIndex("loglik")));
                assertTrue(err != null && err.contains("row 5") && err.contains("context of 64"), err);
            } else {
                assertNull(err, "row " + i);
                assertSameScore(want.get(i), r.getStruct(r.fieldIndex("loglik")), "row " + i + " is kept");
            }
        }
        Exception e = assertThrows(
                Exception.class,
                () -> new SequenceScorer()
                        .setOnError("fail")
                        .setIdCol("id")
                        .transform(table(rows))
                        .collectAsList());
        String msg = dev.attune.testing.Causes.chain(e);
        assertTrue(msg.contains("row 5") && msg.contains("more than the model's context of 64"), msg);
        // truncateLeft keeps the last 64 tokens instead.
        Row kept = new SequenceScorer()
                .setTruncateLeft(true)
                .transform(table(rows))
                .collectAsList()
                .get(5);
        assertEquals(63, kept.getStruct(kept.fieldIndex("loglik")).getInt(2));
    }

    @Test
    void aNonFiniteLogProbabilityIsARowErrorNamingModelAndPath() throws Exception {
        // Finite weights (the load check passes) whose logits overflow fp32.
        Path half = dev.attune.testing.ModelCopies.scaled(
                modelDir, tmp.resolve("overflow-norm"), "model.norm.weight", 1e20f);
        Path broken = dev.attune.testing.ModelCopies.scaled(half, tmp.resolve("overflow"), "lm_head.weight", 1e20f);
        for (String column : List.of("loglik", "choice")) {
            SequenceScorer scorer = new SequenceScorer()
                    .setModel(broken.toString())
                    .setOnError("null")
                    .setIdCol("id");
            if (column.equals("choice")) {
                scorer = scorer.setChoicesCol("choices").setInputCol("prompt").setOutputCol("choice");
            }
            List<Row> out = scorer.transform(table(texts.subList(0, 4))).collectAsList();
            Row r = out.get(1);
            String err = r.getString(r.fieldIndex("attune_error"));
            assertNull(r.get(r.fieldIndex(column)), column + ": no NaN reaches the output");
            assertTrue(err != null && err.startsWith("row 1: model " + broken + " on path cpu-flash gave "), err);
            assertTrue(err.contains("(a non-finite output)"), err);
        }
    }

    @Test
    void anEncoderDirectoryIsRefusedWithAClearMessage() throws Exception {
        Path enc = tmp.resolve("encoder");
        Files.createDirectories(enc);
        Files.writeString(enc.resolve("config.json"), "{\"model_type\": \"bert\", \"hidden_size\": 32}");
        Exception e = assertThrows(
                Exception.class,
                () -> new SequenceScorer()
                        .setModel(enc.toString())
                        .transform(table(texts))
                        .collectAsList());
        String msg = dev.attune.testing.Causes.chain(e);
        assertTrue(msg.contains("is an encoder") && msg.contains("need a decoder"), msg);
    }

    @Test
    void sqlLoglikAndChooseGiveTheTransformersNumbersInBatches() {
        Dataset<Row> df = table(texts);
        List<Row> ml = new SequenceScorer().setOutputCol("a").transform(df).collectAsList();
        List<Row> mlPrompt = new SequenceScorer()
                .setPromptCol("prompt")
                .setOutputCol("b")
                .transform(df)
                .collectAsList();
        List<Row> mlChoice =
                new SequenceScorer().setChoicesCol("choices").transform(df).collectAsList();
        Dataset<Row> q = spark.sql("SELECT id, attune_loglik(text) AS a, attune_loglik(text, prompt) AS b, "
                + "attune_choose(text, choices) AS c FROM t ORDER BY id");
        String plan = q.queryExecution().optimizedPlan().toString();
        assertTrue(plan.contains("MapPartitions"), "the calls are scored per partition in batches:\n" + plan);
        List<Row> sql = q.collectAsList();
        List<SequenceScore> want = directLoglik(false);
        List<SequenceScore> wantPrompt = directLoglik(true);
        assertEquals(texts.size(), sql.size());
        for (int i = 0; i < sql.size(); i++) {
            Row r = sql.get(i);
            assertEquals(i, r.getLong(0));
            assertEquals(ml.get(i).get(ml.get(i).fieldIndex("a")), r.get(1), "row " + i);
            assertEquals(mlPrompt.get(i).get(mlPrompt.get(i).fieldIndex("b")), r.get(2), "row " + i);
            assertEquals(mlChoice.get(i).get(mlChoice.get(i).fieldIndex("choice")), r.get(3), "row " + i);
            assertSameScore(want.get(i), r.getStruct(1), "sql row " + i);
            assertSameScore(wantPrompt.get(i), r.getStruct(2), "sql row " + i);
        }
        // Row at a time (a model that is not a literal is not batched) gives the same numbers.
        List<Row> single = spark.sql("SELECT id, attune_loglik(text, prompt, CASE WHEN id >= 0 THEN '" + modelDir
                        + "' END) AS b " + "FROM t WHERE id < 4 ORDER BY id")
                .collectAsList();
        for (Row r : single) {
            assertSameScore(wantPrompt.get((int) r.getLong(0)), r.getStruct(1), "row-at-a-time row " + r.getLong(0));
        }
        Exception e = assertThrows(
                Exception.class,
                () -> spark.sql("SELECT attune_choose(text) FROM t").collect());
        assertTrue(e.getMessage().contains("attune_choose"), e.getMessage());
    }

    @Test
    void aDecoderGivenToAnEncoderTransformerIsRefusedWithAClearMessage() {
        Exception e = assertThrows(
                Exception.class,
                () -> new dev.attune.spark.ml.TextEmbedder()
                        .setModel(modelDir.toString())
                        .transform(table(texts))
                        .collectAsList());
        String msg = dev.attune.testing.Causes.chain(e);
        assertTrue(msg.contains("is a decoder") && msg.contains("SequenceScorer"), msg);
    }

    @Test
    void badColumnsAreRefusedOnTheDriver() {
        Dataset<Row> df = table(texts);
        assertThrows(
                IllegalArgumentException.class,
                () -> new SequenceScorer().setChoicesCol("text").transform(df));
        assertThrows(
                IllegalArgumentException.class,
                () -> new SequenceScorer().setPromptCol("nope").transform(df));
        assertThrows(
                IllegalArgumentException.class,
                () -> new SequenceScorer()
                        .setPromptCol("prompt")
                        .setChoicesCol("choices")
                        .transform(df));
    }
}

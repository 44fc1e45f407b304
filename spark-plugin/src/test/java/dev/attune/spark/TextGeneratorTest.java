package dev.attune.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.attune.model.DecoderModel;
import dev.attune.model.llama.RandomDecoderCheckpoint;
import dev.attune.model.llama.RandomDecoderCheckpoint.ModelType;
import dev.attune.model.prompt.ChatMessage;
import dev.attune.runtime.AttuneRuntime;
import dev.attune.spark.ml.TextGenerator;
import dev.attune.testing.Causes;
import dev.attune.testing.SparkSessions;
import dev.attune.testing.TestTexts;
import dev.attune.testing.decoder.DecoderReference;
import dev.attune.testing.decoder.ReferenceGreedy;
import dev.attune.testing.decoder.TestTokenizers;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
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
 * {@link TextGenerator} and {@code attune_generate} in local mode on the CPU, with random-weight
 * checkpoints of the four architectures and their real tokenizers: greedy tokens equal the
 * float64 reference's greedy continuation (up to the first near tie), rows keep their order
 * across partitions, sampled rows depend on the seed and the row's key only (not on the
 * partitioning or the batch), chat messages are rendered by the model's template, a prompt that
 * does not fit the context is a row error, and SQL gives the transformer's results batched and
 * row at a time.
 */
@Timeout(600)
class TextGeneratorTest {

    /** Near ties that fp32 may break the other way end the exact comparison (logits are O(10)). */
    static final double MARGIN = 1e-3;

    static final int NEW_TOKENS = 6;

    @TempDir
    static Path tmp;

    static SparkSession spark;
    static Path llama;
    static Path mistral;
    static Path qwen2;
    static Path qwen3;
    static List<String> prompts;

    @BeforeAll
    static void start() throws Exception {
        llama = tmp.resolve("llama");
        RandomDecoderCheckpoint.builder(ModelType.LLAMA)
                .numHeads(4)
                .numKvHeads(2)
                .headDim(16)
                .maxPositionEmbeddings(64)
                .initStd(0.3)
                .seed(1L)
                .build()
                .write(llama, TestTokenizers.dir("llama2"));
        mistral = tmp.resolve("mistral");
        RandomDecoderCheckpoint.builder(ModelType.MISTRAL)
                .numHeads(4)
                .numKvHeads(2)
                .headDim(16)
                .slidingWindow(5)
                .initStd(0.3)
                .seed(2L)
                .build()
                .write(mistral, TestTokenizers.dir("llama2"));
        qwen2 = tmp.resolve("qwen2");
        RandomDecoderCheckpoint.builder(ModelType.QWEN2)
                .numHeads(4)
                .numKvHeads(2)
                .headDim(16)
                .vocabSize(151936)
                .tieWordEmbeddings(true)
                .bosTokenId(151643)
                .eosTokenIds(151645, 151643)
                .initStd(0.3)
                .seed(3L)
                .build()
                .write(qwen2, TestTokenizers.dir("qwen3"));
        qwen3 = tmp.resolve("qwen3");
        RandomDecoderCheckpoint.builder(ModelType.QWEN3)
                .numHeads(4)
                .numKvHeads(2)
                .headDim(24)
                .vocabSize(151936)
                .bosTokenId(151643)
                .eosTokenIds(151645)
                .initStd(0.3)
                .seed(4L)
                .build()
                .write(qwen3, TestTokenizers.dir("qwen3"));
        prompts = new ArrayList<>();
        for (String t : TestTexts.VARIED) {
            if (prompts.size() == 9) {
                break;
            }
            if (t.length() < 80) {
                prompts.add(t);
            }
        }
        assertEquals(9, prompts.size());
        prompts.set(4, null);
        spark = SparkSessions.start(
                "local[2]",
                Map.of(
                        "spark.sql.extensions",
                        "dev.attune.spark.sql.AttuneExtensions",
                        "spark.attune.model",
                        qwen3.toString()));
    }

    @AfterAll
    static void stop() {
        if (spark != null) {
            spark.stop();
        }
    }

    /** id, prompt, messages (a user turn with the prompt), in {@code partitions} partitions. */
    static Dataset<Row> table(List<String> texts, int partitions) {
        List<Row> rows = new ArrayList<>();
        for (int i = 0; i < texts.size(); i++) {
            String t = texts.get(i);
            rows.add(RowFactory.create(
                    (long) i,
                    t,
                    t == null
                            ? null
                            : scala.jdk.javaapi.CollectionConverters.asScala(List.of(RowFactory.create("user", t)))
                                    .toSeq()));
        }
        StructType schema = new StructType()
                .add("id", DataTypes.LongType)
                .add("prompt", DataTypes.StringType)
                .add("messages", TextGenerator.MESSAGES_TYPE);
        JavaSparkContext jsc = JavaSparkContext.fromSparkContext(spark.sparkContext());
        Dataset<Row> df = spark.createDataFrame(jsc.parallelize(rows, partitions), schema);
        df.createOrReplaceTempView("t");
        return df;
    }

    static int[] ints(Row g) {
        return g.getList(1).stream().mapToInt(o -> (Integer) o).toArray();
    }

    static Row gen(Row r) {
        return r.getStruct(r.fieldIndex("generation"));
    }

    @Test
    void greedyRowsMatchTheFloat64ReferenceOnEveryArchitectureInInputOrder() {
        for (Path dir : List.of(llama, mistral, qwen2, qwen3)) {
            List<Row> out = new TextGenerator()
                    .setModel(dir.toString())
                    .setInputCol("prompt")
                    .setMaxNewTokens(NEW_TOKENS)
                    .setMaxActive(3)
                    .setPathCol("path")
                    .setDeviceCol("device")
                    .transform(table(prompts, 3))
                    .collectAsList();
            DecoderReference ref = DecoderReference.load(dir);
            try (DecoderModel m = DecoderModel.load(dir)) {
                var eos = new HashSet<>(m.config().eosTokenIds());
                int exact = 0;
                for (int i = 0; i < prompts.size(); i++) {
                    Row r = out.get(i);
                    String what = dir.getFileName() + " row " + i;
                    assertEquals(i, r.getLong(0), what + ": rows keep their order");
                    if (prompts.get(i) == null) {
                        assertNull(gen(r), what + ": a null prompt gives null");
                        continue;
                    }
                    Row g = gen(r);
                    int[] prompt = m.tokenize(prompts.get(i));
                    int[] got = ints(g);
                    ReferenceGreedy.Continuation want =
                            ReferenceGreedy.continuation(ref, prompt, NEW_TOKENS, eos, MARGIN);
                    int n = Math.min(want.decisive(), want.tokens().length);
                    assertTrue(got.length >= n, what);
                    assertEquals(
                            Arrays.toString(Arrays.copyOf(want.tokens(), n)),
                            Arrays.toString(Arrays.copyOf(got, n)),
                            what + ": greedy tokens");
                    if (n == want.tokens().length) {
                        assertEquals(Arrays.toString(want.tokens()), Arrays.toString(got), what);
                        exact++;
                    }
                    List<Float> lp = g.getList(5);
                    assertEquals(got.length, lp.size(), what + " token_logprobs");
                    for (int t = 0; t < n; t++) {
                        assertEquals(want.logprobs()[t], lp.get(t), 1e-3, what + " token " + t + " log-probability");
                    }
                    assertEquals(prompt.length, g.getInt(2), what + " prompt_tokens");
                    assertEquals(got.length, g.getInt(3), what + " completion_tokens");
                    boolean stopped = eos.contains(got[got.length - 1]);
                    assertEquals(stopped ? "stop" : "length", g.getString(4), what);
                    assertEquals(
                            m.tokenizer().decode(stopped ? Arrays.copyOf(got, got.length - 1) : got, true),
                            g.getString(0),
                            what + " text");
                    assertEquals("cpu", r.getString(r.fieldIndex("device")));
                    assertEquals("cpu-flash", r.getString(r.fieldIndex("path")));
                }
                assertTrue(exact >= 4, dir.getFileName() + ": most rows are compared whole (" + exact + ")");
            }
        }
        AttuneRuntime rt = AttuneRuntime.currentOrNull();
        assertTrue(rt.metrics().counter("generate.rows") >= 4 * 8, "generated rows are counted");
        assertTrue(rt.metrics().counter("generate.decodeTokens") > 0);
    }

    @Test
    void sampledRowsDependOnTheSeedAndKeyNotOnPartitioningOrBatch() {
        TextGenerator sampler = new TextGenerator()
                .setInputCol("prompt")
                .setMaxNewTokens(8)
                .setTemperature(0.9)
                .setTopK(200)
                .setTopP(0.95)
                .setMinP(0.01)
                .setRepetitionPenalty(1.1)
                .setKeyCol("id")
                .setSeed(42);
        List<Row> a = sampler.setMaxActive(4).transform(table(prompts, 3)).collectAsList();
        List<Row> b = sampler.setMaxActive(1).transform(table(prompts, 1)).collectAsList();
        List<Row> c =
                sampler.setSeed(43).setMaxActive(4).transform(table(prompts, 2)).collectAsList();
        boolean differs = false;
        for (int i = 0; i < prompts.size(); i++) {
            if (prompts.get(i) == null) {
                continue;
            }
            assertEquals(gen(a.get(i)), gen(b.get(i)), "row " + i + ": the same tokens whatever the partitioning");
            differs |= !gen(a.get(i)).equals(gen(c.get(i)));
        }
        assertTrue(differs, "another seed gives other samples");
        // The key, not the position, seeds a row: the same prompt under another id samples anew.
        List<String> same = new ArrayList<>();
        for (int i = 0; i < 6; i++) {
            same.add(prompts.get(0));
        }
        List<Row> keyed = sampler.setSeed(42).transform(table(same, 2)).collectAsList();
        assertEquals(gen(a.get(0)), gen(keyed.get(0)));
        assertTrue(
                keyed.stream().map(TextGeneratorTest::gen).distinct().count() > 1,
                "rows with other keys sample other tokens");
        List<Row> byPrompt = new TextGenerator()
                .setInputCol("prompt")
                .setMaxNewTokens(8)
                .setTemperature(0.9)
                .setSeed(42)
                .transform(table(same, 2))
                .collectAsList();
        assertEquals(1, byPrompt.stream().map(TextGeneratorTest::gen).distinct().count(), "no key: the prompt seeds");
    }

    @Test
    void chatMessagesAreRenderedByTheModelsTemplate() {
        List<String> texts = prompts.subList(0, 6);
        Dataset<Row> df = table(texts, 2);
        List<Row> chat = new TextGenerator()
                .setMessagesCol("messages")
                .setMaxNewTokens(4)
                .transform(df)
                .collectAsList();
        List<String> rendered = new ArrayList<>();
        try (DecoderModel m = DecoderModel.load(qwen3)) {
            for (String t : texts) {
                rendered.add(t == null ? null : m.chatPrompt(List.of(new ChatMessage("user", t))));
            }
        }
        List<Row> direct = new TextGenerator()
                .setInputCol("prompt")
                .setMaxNewTokens(4)
                .transform(table(rendered, 2))
                .collectAsList();
        for (int i = 0; i < texts.size(); i++) {
            assertEquals(gen(direct.get(i)), gen(chat.get(i)), "row " + i);
        }
        assertNotNull(gen(chat.get(0)));
        assertTrue(gen(chat.get(0)).getInt(2) > 10, "the template's tokens are part of the prompt");

        // A message without content is that row's error; a model without a template fails the task.
        Dataset<Row> broken = df.selectExpr(
                "id",
                "prompt",
                "CASE WHEN id = 2 THEN array(named_struct('role', 'user', 'content', "
                        + "CAST(NULL AS STRING))) WHEN id = 3 THEN array(named_struct('role', 'robot', 'content', "
                        + "'beep')) ELSE messages END AS messages");
        List<Row> out = new TextGenerator()
                .setMessagesCol("messages")
                .setMaxNewTokens(2)
                .setIdCol("id")
                .setOnError("null")
                .transform(broken)
                .collectAsList();
        assertNull(gen(out.get(2)));
        assertEquals(
                "row 2: chat message 0 needs a role and a content", out.get(2).getString(4));
        assertNull(gen(out.get(3)));
        assertEquals(
                "row 3: message 0: unknown role 'robot'; chat templates render system, developer, user, assistant,"
                        + " tool, ipython",
                out.get(3).getString(4));
        assertNotNull(gen(out.get(1)));
        Exception e = assertThrows(
                Exception.class,
                () -> new TextGenerator()
                        .setModel(llama.toString())
                        .setMessagesCol("messages")
                        .transform(df)
                        .collectAsList());
        String msg = Causes.chain(e);
        assertTrue(msg.contains("chat template"), msg);
    }

    @Test
    void aPromptThatDoesNotFitTheContextIsARowError() {
        List<String> rows = new ArrayList<>(prompts);
        rows.set(3, TestTexts.longParagraph());
        List<Row> out = new TextGenerator()
                .setModel(llama.toString())
                .setInputCol("prompt")
                .setMaxNewTokens(NEW_TOKENS)
                .setIdCol("id")
                .setOnError("null")
                .transform(table(rows, 3))
                .collectAsList();
        for (int i = 0; i < rows.size(); i++) {
            Row r = out.get(i);
            String err = r.getString(r.fieldIndex("attune_error"));
            if (i == 3) {
                assertNull(gen(r));
                assertTrue(err != null && err.startsWith("row 3: ") && err.contains("context of 64"), err);
            } else {
                assertNull(err, "row " + i);
                assertEquals(rows.get(i) == null, gen(r) == null, "row " + i + " is kept");
            }
        }
        Exception e = assertThrows(
                Exception.class,
                () -> new TextGenerator()
                        .setModel(llama.toString())
                        .setInputCol("prompt")
                        .setMaxNewTokens(NEW_TOKENS)
                        .setIdCol("id")
                        .transform(table(rows, 3))
                        .collectAsList());
        String msg = Causes.chain(e);
        assertTrue(msg.contains("row 3: ") && msg.contains("exceed the model's context of 64"), msg);
        // truncateLeft keeps the prompt's last 64 - 6 tokens instead, in the transformer and in SQL.
        Row kept = new TextGenerator()
                .setModel(llama.toString())
                .setInputCol("prompt")
                .setMaxNewTokens(NEW_TOKENS)
                .setTruncateLeft(true)
                .transform(table(rows, 3))
                .collectAsList()
                .get(3);
        assertEquals(64 - NEW_TOKENS, gen(kept).getInt(2));
        assertEquals(NEW_TOKENS, gen(kept).getInt(3));
        Row sqlKept = spark.sql("SELECT attune_generate(prompt, map('model', '" + llama + "', 'max_new_tokens', '"
                        + NEW_TOKENS + "', 'truncate_left', 'true')) FROM t WHERE id = 3")
                .collectAsList()
                .get(0);
        assertEquals(gen(kept), sqlKept.getStruct(0), "SQL truncates as the transformer does");
        Exception bad = assertThrows(
                Exception.class,
                () -> spark.sql("SELECT attune_generate(prompt, map('truncate_left', 'yes')) FROM t")
                        .collect());
        assertTrue(
                Causes.chain(bad).contains("attune_generate: option truncate_left = 'yes' is not true or false"),
                Causes.chain(bad));
        assertThrows(
                IllegalArgumentException.class,
                () -> new TextGenerator()
                        .setTopP(1.0)
                        .setTemperature(0.5)
                        .setMinP(0.5)
                        .setTopK(-1));
        assertThrows(
                IllegalArgumentException.class,
                () -> new TextGenerator().setMessagesCol("prompt").transform(table(rows, 1)));
    }

    @Test
    void sqlGeneratesTheTransformersRowsBatchedAndRowAtATime() {
        Dataset<Row> df = table(prompts, 3);
        List<Row> ml = new TextGenerator()
                .setInputCol("prompt")
                .setMaxNewTokens(5)
                .setTemperature(0.8)
                .setSeed(9)
                .setStop(".")
                .transform(df)
                .collectAsList();
        Dataset<Row> q = spark.sql("SELECT id, attune_generate(prompt, map('max_new_tokens', '5', 'temperature', "
                + "'0.8', 'seed', '9', 'stop', '.')) AS g, attune_generate(prompt) AS greedy FROM t ORDER BY id");
        String plan = q.queryExecution().optimizedPlan().toString();
        assertTrue(plan.contains("MapPartitions"), "the calls are generated per partition in batches:\n" + plan);
        List<Row> sql = q.collectAsList();
        // Row at a time: options that are not a literal are read per row.
        List<Row> single = spark.sql("SELECT id, attune_generate(prompt, map('max_new_tokens', CAST(5 + id - id AS "
                        + "STRING), 'temperature', '0.8', 'seed', '9', 'stop', '.')) AS g FROM t ORDER BY id")
                .collectAsList();
        for (int i = 0; i < prompts.size(); i++) {
            assertEquals(gen(ml.get(i)), sql.get(i).get(1), "row " + i);
            assertEquals(gen(ml.get(i)), single.get(i).get(1), "row-at-a-time row " + i);
            if (prompts.get(i) != null) {
                Row g = sql.get(i).getStruct(1);
                assertTrue(!g.getString(0).contains("."), "a stop string is not part of the text: " + g);
                Row greedy = sql.get(i).getStruct(2);
                assertTrue(
                        greedy.getString(4).equals("stop") || greedy.getInt(3) == 64,
                        "greedy by default, 64 new tokens unless stopped: " + greedy);
            }
        }
        Exception e = assertThrows(
                Exception.class,
                () -> spark.sql("SELECT attune_generate(prompt, map('temprature', '1')) FROM t")
                        .collect());
        assertTrue(e.getMessage().contains("unknown option 'temprature'"), e.getMessage());
        e = assertThrows(
                Exception.class,
                () -> spark.sql("SELECT attune_generate(prompt, map('top_p', '2')) FROM t")
                        .collect());
        assertTrue(Causes.chain(e).contains("attune_generate: sampling: top-p 2.0 must be in (0, 1]"), Causes.chain(e));
        assertNotEquals(sql.get(0).get(1), sql.get(0).get(2));
    }
}

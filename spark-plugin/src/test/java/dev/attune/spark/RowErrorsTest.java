package dev.attune.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.attune.model.builtin.BuiltinModels;
import dev.attune.spark.ml.TextClassifier;
import dev.attune.spark.ml.TextEmbedder;
import dev.attune.testing.Causes;
import dev.attune.testing.ClassifierCheckpoint;
import dev.attune.testing.ModelCopies;
import dev.attune.testing.SparkSessions;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Rows that cannot be scored among good rows, end to end through Spark. By default the job fails
 * with a message naming the row by its id (or its position); with {@code onError=null} (the
 * transformer parameter, or {@code spark.attune.onError} for the session, which the SQL functions
 * follow too) that row alone gets a null result and the error column says why.
 *
 * <p>The failing row is a text with a token outside the model's vocabulary
 * ({@link ModelCopies}). An unpaired UTF-16 surrogate, the other row check, cannot reach
 * Attune through a DataFrame: Spark stores strings as UTF-8 and replaces it with '?' when the row
 * is created ({@link DefaultConfiguration#unpairedSurrogateNeverReachesAttuneThroughSpark}); that
 * check is tested on the scorer itself in {@code PartitionScorerTest}.
 *
 * <p>Also the transformers' schema checks, which name the column at fault.
 */
@Timeout(240)
class RowErrorsTest {

    static final long BAD_ID = 7042L;
    static final String BAD = "Zebras antidisestablishmentarianism 日本語 quixotic";
    static final String VOCAB = "outside the vocabulary";

    @TempDir
    static Path tmp;

    static List<String> good;
    static Path embedder;
    static Path classifier;

    @BeforeAll
    static void build() throws Exception {
        good = new ArrayList<>();
        for (int i = 0; i < 10; i++) {
            good.add("good text number " + i);
        }
        Path miniLm = BuiltinModels.resolve("builtin:all-MiniLM-L6-v2");
        int vocab = ModelCopies.maxTokenId(miniLm, good) + 1;
        assertTrue(ModelCopies.maxTokenId(miniLm, BAD) >= vocab, "the bad text must have a token id >= " + vocab);
        embedder = ModelCopies.smallVocabulary(miniLm, tmp.resolve("embedder"), vocab);
        Path full = ClassifierCheckpoint.build(tmp.resolve("classifier-full"), 20261122L)
                .dir();
        classifier = ModelCopies.smallVocabulary(full, tmp.resolve("classifier"), vocab);
    }

    static Dataset<Row> frame(SparkSession spark) {
        List<Row> rows = new ArrayList<>();
        for (int i = 0; i < good.size(); i++) {
            rows.add(RowFactory.create(1000L + i, good.get(i)));
            if (i == 4) {
                rows.add(RowFactory.create(BAD_ID, BAD));
            }
        }
        StructType schema = new StructType().add("id", DataTypes.LongType).add("text", DataTypes.StringType);
        Dataset<Row> df = spark.createDataFrame(rows, schema).repartition(2);
        df.createOrReplaceTempView("t");
        return df;
    }

    /** Every row present; the bad one null with an error naming it, the others scored without error. */
    static void assertNullForTheBadRowOnly(List<Row> rows) {
        assertEquals(good.size() + 1, rows.size());
        for (Row r : rows) {
            long id = r.getLong(0);
            Object embedding = r.get(r.fieldIndex("embedding"));
            String error = r.getString(r.fieldIndex("attune_error"));
            if (id == BAD_ID) {
                assertNull(embedding, "the bad row's embedding");
                assertNotNull(error, "the bad row's error");
                assertTrue(error.contains("row " + BAD_ID) && error.contains(VOCAB), error);
            } else {
                assertNotNull(embedding, "row " + id);
                assertEquals(384, r.getList(r.fieldIndex("embedding")).size());
                assertNull(error, "row " + id);
            }
        }
    }

    @Nested
    @TestInstance(TestInstance.Lifecycle.PER_CLASS)
    class DefaultConfiguration {

        SparkSession spark;

        @BeforeAll
        void start() {
            spark = SparkSessions.start("local[2]", Map.of());
        }

        @AfterAll
        void stop() {
            spark.stop();
        }

        @Test
        void byDefaultTheJobFailsNamingTheRow() {
            Dataset<Row> out = new TextEmbedder()
                    .setModel(embedder.toString())
                    .setIdCol("id")
                    .transform(frame(spark));
            assertFalse(List.of(out.schema().fieldNames()).contains("attune_error"));
            Exception e = assertThrows(Exception.class, out::collectAsList);
            assertTrue(Causes.oneMessageContainsAll(e, "row " + BAD_ID, VOCAB), () -> Causes.chain(e));
        }

        @Test
        void withoutAnIdColumnTheRowIsNamedByPosition() {
            Dataset<Row> out = new TextEmbedder()
                    .setModel(embedder.toString())
                    .transform(frame(spark).coalesce(1));
            Exception e = assertThrows(Exception.class, out::collectAsList);
            assertTrue(Causes.oneMessageContainsAll(e, "of partition", VOCAB), () -> Causes.chain(e));
        }

        @Test
        void onErrorNullKeepsEveryRow() {
            Dataset<Row> df = frame(spark);
            List<Row> rows = new TextEmbedder()
                    .setModel(embedder.toString())
                    .setIdCol("id")
                    .setOnError("null")
                    .transform(df)
                    .collectAsList();
            assertNullForTheBadRowOnly(rows);
            // The good rows are untouched by the bad one: as the full MiniLM embeds them alone.
            Map<Long, List<Float>> full = new HashMap<>();
            new TextEmbedder()
                    .transform(df.filter("id != " + BAD_ID))
                    .collectAsList()
                    .forEach(r -> full.put(r.getLong(0), r.getList(2)));
            for (Row r : rows) {
                if (r.getLong(0) != BAD_ID) {
                    List<Float> a = r.getList(r.fieldIndex("embedding"));
                    List<Float> b = full.get(r.getLong(0));
                    for (int i = 0; i < a.size(); i++) {
                        assertEquals(b.get(i), a.get(i), 1e-5, "row " + r.getLong(0));
                    }
                }
            }
        }

        @Test
        void classifierOnErrorNullKeepsEveryRowToo() {
            List<Row> rows = new TextClassifier()
                    .setModel(classifier.toString())
                    .setIdCol("id")
                    .setOnError("null")
                    .transform(frame(spark))
                    .collectAsList();
            assertEquals(good.size() + 1, rows.size());
            for (Row r : rows) {
                String error = r.getString(r.fieldIndex("attune_error"));
                if (r.getLong(0) == BAD_ID) {
                    assertNull(r.get(r.fieldIndex("label")));
                    assertNull(r.get(r.fieldIndex("score")));
                    assertTrue(error.contains("row " + BAD_ID) && error.contains(VOCAB), error);
                } else {
                    assertTrue(ClassifierCheckpoint.LABELS.contains(r.getString(r.fieldIndex("label"))));
                    assertNull(error, "row " + r.getLong(0));
                }
            }
        }

        @Test
        void aModelWithoutAHeadIsNotARowError() {
            // onError=null is for rows: a model that cannot classify at all fails the job.
            Dataset<Row> out = new TextClassifier()
                    .setModel("builtin:all-MiniLM-L6-v2")
                    .setOnError("null")
                    .transform(frame(spark));
            Exception e = assertThrows(Exception.class, out::collectAsList);
            assertTrue(Causes.oneMessageContainsAll(e, "sequence-classification head"), () -> Causes.chain(e));
        }

        @Test
        void sessionConfSetAtRuntimeIsHonoured() {
            spark.conf().set("spark.attune.onError", "null");
            try {
                assertNullForTheBadRowOnly(new TextEmbedder()
                        .setModel(embedder.toString())
                        .setIdCol("id")
                        .transform(frame(spark))
                        .collectAsList());
            } finally {
                spark.conf().unset("spark.attune.onError");
            }
        }

        @Test
        void sqlFailsNamingTheText() {
            frame(spark);
            Attune.register(spark);
            Exception e = assertThrows(
                    Exception.class,
                    () -> spark.sql("SELECT id, attune_embed(text, '" + embedder + "') FROM t")
                            .collectAsList());
            assertTrue(Causes.oneMessageContainsAll(e, "attune_embed on text 'Zebras", VOCAB), () -> Causes.chain(e));
        }

        @Test
        void unpairedSurrogateNeverReachesAttuneThroughSpark() {
            // Spark keeps strings as UTF-8: creating the row turns the lone surrogate into '?', so
            // the text Attune sees is an ordinary one and is scored.
            StructType schema = new StructType().add("id", DataTypes.LongType).add("text", DataTypes.StringType);
            Dataset<Row> df = spark.createDataFrame(List.of(RowFactory.create(1L, "bad \uD800 text")), schema);
            List<Row> rows = new TextEmbedder().setIdCol("id").transform(df).collectAsList();
            assertEquals("bad ? text", rows.get(0).getString(1));
            assertEquals(384, rows.get(0).getList(2).size());
        }

        @Test
        void missingInputColumnIsNamed() {
            IllegalArgumentException e = assertThrows(
                    IllegalArgumentException.class,
                    () -> new TextEmbedder()
                            .setInputCol("body")
                            .transformSchema(frame(spark).schema()));
            assertTrue(e.getMessage().contains("'body'") && e.getMessage().contains("does not exist"), e.getMessage());
        }

        @Test
        void nonStringInputColumnIsNamed() {
            IllegalArgumentException e = assertThrows(
                    IllegalArgumentException.class,
                    () -> new TextClassifier().setInputCol("id").transform(frame(spark)));
            assertTrue(e.getMessage().contains("'id'") && e.getMessage().contains("must be a string"), e.getMessage());
        }

        @Test
        void existingOutputColumnIsNamed() {
            Dataset<Row> df = frame(spark).withColumnRenamed("id", "embedding");
            IllegalArgumentException e =
                    assertThrows(IllegalArgumentException.class, () -> new TextEmbedder().transform(df));
            assertTrue(
                    e.getMessage().contains("'embedding'") && e.getMessage().contains("already exists"),
                    e.getMessage());
            IllegalArgumentException e2 = assertThrows(
                    IllegalArgumentException.class,
                    () -> new TextClassifier().setScoreCol("text").transformSchema(df.schema()));
            assertTrue(
                    e2.getMessage().contains("'text'") && e2.getMessage().contains("already exists"), e2.getMessage());
        }

        @Test
        void missingIdColumnIsNamed() {
            IllegalArgumentException e = assertThrows(
                    IllegalArgumentException.class,
                    () -> new TextEmbedder()
                            .setIdCol("key")
                            .transformSchema(frame(spark).schema()));
            assertTrue(e.getMessage().contains("'key'"), e.getMessage());
        }
    }

    @Nested
    @TestInstance(TestInstance.Lifecycle.PER_CLASS)
    class SessionOnErrorNull {

        SparkSession spark;

        @BeforeAll
        void start() {
            spark = SparkSessions.start("local[2]", Map.of("spark.attune.onError", "null"));
            Attune.register(spark);
        }

        @AfterAll
        void stop() {
            spark.stop();
        }

        @Test
        void transformerFollowsTheSessionSetting() {
            assertNullForTheBadRowOnly(new TextEmbedder()
                    .setModel(embedder.toString())
                    .setIdCol("id")
                    .transform(frame(spark))
                    .collectAsList());
        }

        @Test
        void transformerParameterOverridesTheSessionSetting() {
            Dataset<Row> out = new TextEmbedder()
                    .setModel(embedder.toString())
                    .setIdCol("id")
                    .setOnError("fail")
                    .transform(frame(spark));
            assertFalse(List.of(out.schema().fieldNames()).contains("attune_error"));
            Exception e = assertThrows(Exception.class, out::collectAsList);
            assertTrue(Causes.oneMessageContainsAll(e, "row " + BAD_ID, VOCAB), () -> Causes.chain(e));
        }

        @Test
        void sqlGivesNullForTheBadRow() {
            frame(spark);
            List<Row> rows = spark.sql("SELECT id, attune_embed(text, '" + embedder + "'), attune_classify(text, '"
                            + classifier + "') FROM t")
                    .collectAsList();
            assertEquals(good.size() + 1, rows.size());
            for (Row r : rows) {
                if (r.getLong(0) == BAD_ID) {
                    assertTrue(r.isNullAt(1), "the bad row's embedding is NULL");
                    assertTrue(r.isNullAt(2), "the bad row's classification is NULL");
                } else {
                    assertEquals(384, r.getList(1).size(), "row " + r.getLong(0));
                    assertTrue(
                            ClassifierCheckpoint.LABELS.contains(r.getStruct(2).getString(0)), "row " + r.getLong(0));
                }
            }
        }
    }
}

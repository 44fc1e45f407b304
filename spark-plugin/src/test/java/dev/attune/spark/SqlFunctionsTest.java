package dev.attune.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.attune.spark.ml.TextClassifier;
import dev.attune.spark.ml.TextEmbedder;
import dev.attune.testing.Causes;
import dev.attune.testing.ClassifierCheckpoint;
import dev.attune.testing.SparkSessions;
import dev.attune.testing.TestTexts;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.ArrayType;
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
 * The SQL functions {@code attune_embed} and {@code attune_classify}: installed by
 * {@code spark.sql.extensions=dev.attune.spark.sql.AttuneExtensions}, and by
 * {@link Attune#register} in a session without the extension. Their results equal the
 * transformers' on the same rows (and, for the classifier, the independent expectation of
 * {@link ClassifierCheckpoint}); the model argument selects another model; a null text gives NULL; a
 * wrong number of arguments is an error naming the function.
 */
@Timeout(240)
class SqlFunctionsTest {

    static final String MINILM = "builtin:all-MiniLM-L6-v2";
    static final String BGE = "builtin:bge-small-en-v1.5";

    @TempDir
    static Path tmp;

    static ClassifierCheckpoint checkpoint;
    static List<String> texts;

    @BeforeAll
    static void build() throws Exception {
        checkpoint = ClassifierCheckpoint.build(tmp.resolve("classifier"), 20261122L);
        texts = new ArrayList<>();
        for (int i = 0; i < TestTexts.VARIED.size() && texts.size() < 12; i += 5) {
            texts.add(TestTexts.VARIED.get(i));
        }
        texts.add(null);
    }

    static Dataset<Row> table(SparkSession spark) {
        List<Row> rows = new ArrayList<>();
        for (int i = 0; i < texts.size(); i++) {
            rows.add(RowFactory.create((long) i, texts.get(i)));
        }
        StructType schema = new StructType().add("id", DataTypes.LongType).add("text", DataTypes.StringType);
        Dataset<Row> df = spark.createDataFrame(rows, schema).repartition(2);
        df.createOrReplaceTempView("t");
        return df;
    }

    /** id -> vector of column {@code col} (null stays null). */
    static Map<Long, float[]> vectors(List<Row> rows, int col) {
        Map<Long, float[]> m = new HashMap<>();
        for (Row r : rows) {
            if (r.isNullAt(col)) {
                m.put(r.getLong(0), null);
                continue;
            }
            List<Float> l = r.getList(col);
            float[] v = new float[l.size()];
            for (int i = 0; i < v.length; i++) {
                v[i] = l.get(i);
            }
            m.put(r.getLong(0), v);
        }
        return m;
    }

    static double maxAbsDiff(float[] a, float[] b) {
        assertEquals(a.length, b.length);
        double d = 0;
        for (int i = 0; i < a.length; i++) {
            d = Math.max(d, Math.abs(a[i] - b[i]));
        }
        return d;
    }

    static void assertSameVectors(Map<Long, float[]> want, Map<Long, float[]> got, double tol) {
        assertEquals(want.keySet(), got.keySet());
        for (Long id : want.keySet()) {
            if (want.get(id) == null) {
                assertNull(got.get(id), "row " + id);
                continue;
            }
            assertNotNull(got.get(id), "row " + id);
            assertEquals(384, got.get(id).length, "row " + id);
            double d = maxAbsDiff(want.get(id), got.get(id));
            assertTrue(d <= tol, "row " + id + " differs by " + d);
        }
    }

    static void embedMatchesTextEmbedder(SparkSession spark) {
        Dataset<Row> df = table(spark);
        Dataset<Row> sql = spark.sql("SELECT id, attune_embed(text) AS e FROM t");
        assertEquals(DataTypes.FloatType, ((ArrayType) sql.schema().apply("e").dataType()).elementType());
        Map<Long, float[]> got = vectors(sql.collectAsList(), 1);
        Map<Long, float[]> want = vectors(
                new TextEmbedder()
                        .setModel(MINILM)
                        .transform(df)
                        .select("id", "embedding")
                        .collectAsList(),
                1);
        assertNull(want.get((long) texts.size() - 1), "the null text");
        assertSameVectors(want, got, 1e-5);
    }

    static void classifyMatchesTextClassifier(SparkSession spark) throws Exception {
        Dataset<Row> df = table(spark);
        String dir = checkpoint.dir().toString();
        List<Row> sql = spark.sql("SELECT id, attune_classify(text, '" + dir + "') AS c FROM t")
                .collectAsList();
        Map<Long, Row> byId = new HashMap<>();
        sql.forEach(r -> byId.put(r.getLong(0), r));
        List<Row> ml = new TextClassifier()
                .setModel(dir)
                .transform(df)
                .select("id", "label", "score")
                .collectAsList();
        double[][] expected = checkpoint.expected(texts);
        assertEquals(texts.size(), sql.size());
        for (Row r : ml) {
            long id = r.getLong(0);
            Row c = byId.get(id);
            if (texts.get((int) id) == null) {
                assertNull(c.get(1), "null text gives NULL");
                continue;
            }
            Row s = c.getStruct(1);
            assertEquals(List.of("label", "score"), List.of(s.schema().fieldNames()));
            assertEquals(r.getString(1), s.getString(0), "row " + id);
            assertEquals(r.getDouble(2), s.getDouble(1), 1e-5, "row " + id);
            double[] want = expected[(int) id];
            assertEquals(
                    ClassifierCheckpoint.LABELS.get(ClassifierCheckpoint.argmax(want)), s.getString(0), "row " + id);
            assertEquals(want[ClassifierCheckpoint.argmax(want)], s.getDouble(1), 1e-4, "row " + id);
        }
    }

    @Nested
    @TestInstance(TestInstance.Lifecycle.PER_CLASS)
    class WithTheExtension {

        SparkSession spark;

        @BeforeAll
        void start() {
            spark = SparkSessions.start(
                    "local[2]", Map.of("spark.sql.extensions", "dev.attune.spark.sql.AttuneExtensions"));
        }

        @AfterAll
        void stop() {
            spark.stop();
        }

        @Test
        void attuneEmbedEqualsTextEmbedder() {
            embedMatchesTextEmbedder(spark);
        }

        @Test
        void modelArgumentSelectsAnotherModel() {
            Dataset<Row> df = table(spark);
            Map<Long, float[]> bge = vectors(
                    spark.sql("SELECT id, attune_embed(text, '" + BGE + "') FROM t")
                            .collectAsList(),
                    1);
            Map<Long, float[]> miniLm = vectors(
                    spark.sql("SELECT id, attune_embed(text, '" + MINILM + "') FROM t")
                            .collectAsList(),
                    1);
            Map<Long, float[]> bgeMl = vectors(
                    new TextEmbedder()
                            .setModel(BGE)
                            .transform(df)
                            .select("id", "embedding")
                            .collectAsList(),
                    1);
            assertSameVectors(bgeMl, bge, 1e-5);
            for (Long id : bge.keySet()) {
                if (bge.get(id) != null) {
                    double d = maxAbsDiff(bge.get(id), miniLm.get(id));
                    assertTrue(d > 0.05, "row " + id + ": BGE and MiniLM vectors should differ, max diff " + d);
                }
            }
        }

        @Test
        void nullTextGivesNull() {
            table(spark);
            List<Row> rows = spark.sql("SELECT attune_embed(CAST(NULL AS STRING)), attune_embed(text) FROM t WHERE "
                            + "text IS NULL")
                    .collectAsList();
            assertEquals(1, rows.size());
            assertTrue(rows.get(0).isNullAt(0));
            assertTrue(rows.get(0).isNullAt(1));
        }

        @Test
        void wrongNumberOfArgumentsNamesTheFunction() {
            table(spark);
            for (String call : List.of("attune_embed()", "attune_embed(text, 'a', 'b')", "attune_classify()")) {
                Exception e = assertThrows(
                        Exception.class,
                        () -> spark.sql("SELECT " + call + " FROM t").collectAsList(),
                        call);
                String name = call.substring(0, call.indexOf('('));
                assertTrue(e instanceof org.apache.spark.sql.AnalysisException, () -> call + ": " + Causes.chain(e));
                assertTrue(
                        e.getMessage().contains("`" + name + "`")
                                && e.getMessage().contains("WRONG_NUM_ARGS"),
                        e.getMessage());
            }
        }

        @Test
        void attuneClassifyEqualsTextClassifier() throws Exception {
            classifyMatchesTextClassifier(spark);
        }
    }

    @Nested
    @TestInstance(TestInstance.Lifecycle.PER_CLASS)
    class WithRegisterInsteadOfTheExtension {

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
        void registerInstallsTheFunctions() throws Exception {
            table(spark);
            Exception before = assertThrows(Exception.class, () -> spark.sql("SELECT attune_embed(text) FROM t"));
            assertTrue(Causes.chain(before).contains("attune_embed"), () -> Causes.chain(before));
            Attune.register(spark);
            embedMatchesTextEmbedder(spark);
            classifyMatchesTextClassifier(spark);
        }
    }
}

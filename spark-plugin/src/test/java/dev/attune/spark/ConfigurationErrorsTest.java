package dev.attune.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.attune.runtime.AttuneRuntime;
import dev.attune.spark.ml.TextEmbedder;
import dev.attune.testing.Causes;
import dev.attune.testing.SparkSessions;
import java.util.List;
import java.util.Map;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.Timeout;

/**
 * A bad Attune configuration stops the application when the SparkContext starts, with a message
 * naming the key and the value: checked by the driver plugin (bad numbers, unknown keys with a
 * suggestion, unknown attention paths and built-in models) or by the executor plugin in local mode
 * (a missing model directory, a forced path the simulated device cannot run). After each failure
 * no SparkContext, session or Attune runtime is left behind, and a good session starts afterwards.
 */
@Timeout(180)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class ConfigurationErrorsTest {

    /** Starting a session with {@code conf} fails; returns the exception. */
    static Exception startFails(Map<String, String> conf) {
        return assertThrows(Exception.class, () -> {
            SparkSession s = SparkSessions.start("local[2]", conf);
            s.stop(); // only reached when the test fails
        });
    }

    static void assertMessage(Exception e, String... parts) {
        assertTrue(
                Causes.oneMessageContainsAll(e, parts),
                () -> "expected one message with " + List.of(parts) + " in:\n" + Causes.chain(e));
    }

    @AfterEach
    void nothingLeftBehind() {
        assertTrue(org.apache.spark.SparkContext$.MODULE$.getActive().isEmpty(), "no active SparkContext");
        assertTrue(SparkSession.getActiveSession().isEmpty(), "no active session");
        assertTrue(SparkSession.getDefaultSession().isEmpty(), "no default session");
    }

    @Test
    @Order(1)
    void negativeMaxTokens() {
        assertMessage(
                startFails(Map.of("spark.attune.batch.maxTokens", "-3")),
                "spark.attune.batch.maxTokens",
                "'-3'",
                "at least 1");
    }

    @Test
    @Order(2)
    void unknownKeyWithSuggestion() {
        assertMessage(
                startFails(Map.of("spark.attune.modle", "builtin:all-MiniLM-L6-v2")),
                "unknown key spark.attune.modle",
                "did you mean spark.attune.model");
    }

    @Test
    @Order(3)
    void unknownAttentionPath() {
        assertMessage(
                startFails(Map.of("spark.attune.attention.path", "warp-speed")),
                "spark.attune.attention.path",
                "warp-speed",
                "flash-sm80");
    }

    @Test
    @Order(4)
    void unknownBuiltinModel() {
        assertMessage(
                startFails(Map.of("spark.attune.model", "builtin:nope")),
                "spark.attune.model",
                "builtin:nope",
                "builtin:all-MiniLM-L6-v2");
    }

    @Test
    @Order(5)
    void allProblemsAtOnce() {
        Exception e = startFails(Map.of("spark.attune.batch.maxTokens", "-3", "spark.attune.dtype", "fp8"));
        assertMessage(e, "spark.attune.batch.maxTokens", "spark.attune.dtype", "'fp8'");
    }

    @Test
    @Order(6)
    void missingModelDirectoryFailsTheExecutor() {
        Exception e = startFails(Map.of("spark.attune.model", "/nonexistent/model"));
        assertMessage(e, "Attune executor driver cannot start", "/nonexistent/model", "does not exist");
        assertNull(AttuneRuntime.currentOrNull(), "the failed executor's runtime is stopped");
    }

    @Test
    @Order(7)
    void forcedPathTheDeviceCannotRun() {
        Exception e = startFails(
                Map.of("spark.attune.simulate.devices", "driver=T4", "spark.attune.attention.path", "flash-sm80"));
        assertMessage(e, "Tesla T4", "flash-sm80", "sm_80");
        assertNull(AttuneRuntime.currentOrNull(), "the failed executor's runtime is stopped");
    }

    @Test
    @Order(8)
    void withoutPreloadAMissingModelFailsTheFirstTaskInstead() {
        SparkSession spark = SparkSessions.start(
                "local[2]", Map.of("spark.attune.model", "/nonexistent/model", "spark.attune.model.preload", "false"));
        try {
            StructType schema = new StructType().add("text", DataTypes.StringType);
            var df = spark.createDataFrame(List.<Row>of(RowFactory.create("hello")), schema);
            // A transformer naming its model does not need spark.attune.model...
            assertEquals(
                    1,
                    new TextEmbedder()
                            .setModel("builtin:all-MiniLM-L6-v2")
                            .transform(df)
                            .collectAsList()
                            .size());
            // ...one that does not name it uses spark.attune.model, as the SQL functions do.
            Exception e = assertThrows(
                    Exception.class, () -> new TextEmbedder().transform(df).collectAsList());
            assertMessage(e, "/nonexistent/model", "does not exist");
            Attune.register(spark);
            df.createOrReplaceTempView("t");
            Exception sql = assertThrows(
                    Exception.class,
                    () -> spark.sql("SELECT attune_embed(text) FROM t").collectAsList());
            assertMessage(sql, "/nonexistent/model", "does not exist");
        } finally {
            spark.stop();
        }
    }

    @Test
    @Order(9)
    void aGoodSessionStartsAfterTheFailures() {
        SparkSession spark = SparkSessions.start("local[2]", Map.of());
        try {
            StructType schema = new StructType().add("text", DataTypes.StringType);
            List<Row> rows = new TextEmbedder()
                    .transform(spark.createDataFrame(List.<Row>of(RowFactory.create("hello")), schema))
                    .collectAsList();
            assertEquals(384, rows.get(0).getList(1).size());
            assertEquals(
                    "builtin:all-MiniLM-L6-v2",
                    ClusterInventory.executors().get("driver").model());
        } finally {
            spark.stop();
        }
    }
}

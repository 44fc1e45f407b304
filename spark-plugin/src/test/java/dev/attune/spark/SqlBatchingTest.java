package dev.attune.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.attune.runtime.AttuneRuntime;
import dev.attune.testing.SparkSessions;
import dev.attune.testing.TestTexts;
import java.util.List;
import java.util.Map;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * With the extension installed, SQL calls in a projection are scored in batches per partition
 * (the optimized plan holds a MapPartitions, and the batch counter grows by far fewer than the
 * rows), and the results equal the row-at-a-time function's, including nulls and a model given
 * by name; calls the rule does not rewrite (a filter) still work.
 */
@Timeout(300)
class SqlBatchingTest {

    private static long batches() {
        return AttuneRuntime.currentOrNull()
                .metrics()
                .registry()
                .counter("batches")
                .getCount();
    }

    @Test
    void projectionsAreScoredInBatches() {
        SparkSession spark = SparkSessions.start(
                "local[2]", Map.of("spark.sql.extensions", "dev.attune.spark.sql.AttuneExtensions"));
        try {
            LocalModeTest.textFrame(spark, TestTexts.VARIED, 2).createOrReplaceTempView("t");
            int rows = TestTexts.VARIED.size();
            Dataset<Row> q = spark.sql("SELECT id, attune_embed(text) AS e, attune_embed(upper(text)) AS u, "
                    + "size(attune_embed(text, 'builtin:all-MiniLM-L6-v2')) AS n FROM t");
            assertTrue(
                    q.queryExecution().optimizedPlan().toString().contains("MapPartitions"),
                    q.queryExecution().optimizedPlan().toString());
            long before = batches();
            List<Row> batched = q.orderBy("id").collectAsList();
            long used = batches() - before;
            assertEquals(rows, batched.size());
            assertTrue(used < rows, "batches " + used + " for " + 3 * rows + " calls");

            // The same values from the row-at-a-time function (the rule leaves a WHERE clause alone).
            List<Row> single = spark.sql(
                            "SELECT id, attune_embed(text) AS e FROM t WHERE size(attune_embed(text)) = 384")
                    .orderBy("id")
                    .collectAsList();
            assertEquals(rows, single.size());
            for (int i = 0; i < rows; i++) {
                assertEquals(batched.get(i).getLong(0), single.get(i).getLong(0));
                List<Float> a = batched.get(i).getList(1);
                List<Float> b = single.get(i).getList(1);
                for (int c = 0; c < a.size(); c++) {
                    assertEquals(a.get(c), b.get(c), 1e-5, "row " + i);
                }
                assertEquals(384, batched.get(i).getInt(3));
            }
            List<Row> withNull = spark.sql("SELECT attune_embed(CAST(NULL AS STRING)) AS e, attune_embed('x') AS x")
                    .collectAsList();
            assertTrue(withNull.get(0).isNullAt(0));
            assertEquals(384, withNull.get(0).getList(1).size());
        } finally {
            spark.stop();
        }
    }
}

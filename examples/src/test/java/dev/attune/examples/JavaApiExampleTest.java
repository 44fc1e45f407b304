package dev.attune.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The Java API example and the SQL example run and give what they claim. */
@Timeout(300)
class JavaApiExampleTest {

    @Test
    void dataFrameAndSqlAgree() throws Exception {
        SparkSession spark = SparkSession.builder()
                .master("local[2]")
                .appName("example-test")
                .config("spark.ui.enabled", "false")
                .config("spark.driver.host", "127.0.0.1")
                .config("spark.driver.bindAddress", "127.0.0.1")
                .config("spark.plugins", "dev.attune.spark.AttunePlugin")
                .config("spark.sql.extensions", "dev.attune.spark.sql.AttuneExtensions")
                .getOrCreate();
        try {
            List<Row> rows = JavaApiExample.run(spark);
            assertEquals(3, rows.size());
            for (Row r : rows) {
                assertEquals(384, r.getInt(2));
                assertEquals("cpu-flash", r.getString(3));
                assertEquals("cpu", r.getString(4));
                assertEquals(384, r.getInt(5));
                assertTrue(r.getBoolean(6), "the SQL function and the transformer give the same vector");
            }
            // The SQL example file: run each statement; the last one finds the laptop document.
            String sql = Files.readString(
                    Path.of(System.getProperty("spark.test.home")).resolve("sql/embed_and_search.sql"));
            Row last = null;
            for (String stmt : sql.replaceAll("(?m)^--.*$", "").split(";")) {
                if (!stmt.isBlank()) {
                    List<Row> out = spark.sql(stmt).collectAsList();
                    last = out.isEmpty() ? last : out.get(0);
                }
            }
            assertEquals(1, last.getInt(0), "the nearest document to 'my notebook overheats' is the laptop one");
        } finally {
            spark.stop();
        }
    }
}

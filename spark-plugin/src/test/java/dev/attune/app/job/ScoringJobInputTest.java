package dev.attune.app.job;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Bad input records in the scoring job: each malformed JSON line, line of invalid UTF-8, line
 * without the text or with a non-string text is a failed row naming file and line (onError=null)
 * or stops the job naming them (onError=fail); a CSV quote that is never closed fails the job
 * instead of merging rows; and records read = rows written + rows failed, printed and stored.
 */
@Timeout(300)
class ScoringJobInputTest {

    private static final ObjectMapper JSON = new ObjectMapper();

    private record Result(int code, String log) {}

    private static Result run(String... args) {
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        int code = ScoringJob.run(args, new PrintStream(buf, true, StandardCharsets.UTF_8));
        String log = buf.toString(StandardCharsets.UTF_8);
        System.out.print(log);
        return new Result(code, log);
    }

    private static String[] args(Path in, Path out, String... more) {
        List<String> a = new java.util.ArrayList<>(List.of(
                "--input",
                in.toString(),
                "--output",
                out.toString(),
                "--chunks",
                "2",
                "--chunks-per-job",
                "2",
                "--partitions",
                "2",
                "--master",
                "local[2]"));
        a.addAll(List.of(more));
        return a.toArray(new String[0]);
    }

    /** Six good records (ids 0..5) and, on lines 3, 5, 7 and 8, four bad ones; line 6 is blank. */
    private static Path badJsonLines(Path dir) throws Exception {
        Path in = dir.resolve("in.jsonl");
        var b = new ByteArrayOutputStream();
        b.writeBytes("{\"id\": 0, \"text\": \"a sentence about GPUs\"}\n".getBytes(StandardCharsets.UTF_8));
        b.writeBytes("{\"id\": 1, \"text\": \"another about Spark\"}\n".getBytes(StandardCharsets.UTF_8));
        b.writeBytes("{\"id\":5,\"text\":\"broken\n".getBytes(StandardCharsets.UTF_8));
        b.writeBytes("{\"id\": 2, \"text\": \"caf\u00e9 au lait\"}\n".getBytes(StandardCharsets.UTF_8));
        b.writeBytes("{\"id\": 6, \"text\": \"caf".getBytes(StandardCharsets.UTF_8));
        b.write(0xff);
        b.writeBytes("\"}\n\n".getBytes(StandardCharsets.UTF_8));
        b.writeBytes("{\"id\": 7}\n".getBytes(StandardCharsets.UTF_8));
        b.writeBytes("{\"id\": 8, \"text\": 42}\n".getBytes(StandardCharsets.UTF_8));
        b.writeBytes("{\"id\": 3, \"text\": \"three\"}\n".getBytes(StandardCharsets.UTF_8));
        b.writeBytes("{\"id\": 4, \"text\": null}\n".getBytes(StandardCharsets.UTF_8));
        b.writeBytes("{\"id\": 5, \"text\": \"five\"}".getBytes(StandardCharsets.UTF_8));
        Files.write(in, b.toByteArray());
        return in;
    }

    @Test
    void badJsonLinesStopTheJobNamingFileAndLineUnderOnErrorFail(@TempDir Path dir) throws Exception {
        Path in = badJsonLines(dir);
        Path out = dir.resolve("out");
        Result r = run(args(in, out));
        assertEquals(1, r.code(), r.log());
        assertTrue(r.log().contains("in.jsonl:3: not valid JSON"), r.log());
        assertTrue(r.log().contains("4 of 10 records cannot be read"), r.log());
        assertFalse(Files.exists(out.resolve("_attune/chunk-0.done")), "nothing is scored");
    }

    @Test
    void badJsonLinesAreFailedRowsNamingFileAndLineUnderOnErrorNull(@TempDir Path dir) throws Exception {
        Path in = badJsonLines(dir);
        Path out = dir.resolve("out");
        Result r = run(args(in, out, "--conf", "spark.attune.onError=null"));
        assertEquals(0, r.code(), r.log());
        assertTrue(r.log().contains("records read 10 = rows written 6 + rows failed 4"), r.log());
        assertTrue(r.log().contains("; 4 failed rows"), r.log());
        JsonNode counts = JSON.readTree(out.resolve("_attune/counts.json").toFile());
        assertEquals(10, counts.get("recordsRead").asLong());
        assertEquals(6, counts.get("rowsWritten").asLong());
        assertEquals(4, counts.get("rowsFailed").asLong());

        SparkSession spark = SparkSession.builder()
                .master("local[1]")
                .appName("read")
                .config("spark.ui.enabled", "false")
                .config("spark.driver.host", "127.0.0.1")
                .config("spark.driver.bindAddress", "127.0.0.1")
                .getOrCreate();
        try {
            List<Row> rows = spark.read().parquet(out.toString()).collectAsList();
            assertEquals(10, rows.size());
            Map<String, Row> failed = new TreeMap<>();
            int good = 0;
            for (Row row : rows) {
                String e = row.getString(row.fieldIndex("attune_error"));
                if (e == null) {
                    good++;
                    long id = row.getLong(row.fieldIndex("id"));
                    assertEquals(id == 4, row.isNullAt(row.fieldIndex("embedding")), "id " + id);
                } else {
                    assertTrue(row.isNullAt(row.fieldIndex("embedding")), e);
                    failed.put(e.substring(e.indexOf("in.jsonl:")), row);
                }
            }
            assertEquals(6, good);
            List<String> messages = List.copyOf(failed.keySet());
            assertEquals(4, messages.size(), messages.toString());
            assertTrue(messages.get(0).startsWith("in.jsonl:3: not valid JSON"), messages.toString());
            assertTrue(messages.get(1).startsWith("in.jsonl:5: not valid UTF-8 (byte 0xff"), messages.toString());
            assertEquals("in.jsonl:7: missing \"text\"", messages.get(2));
            assertEquals("in.jsonl:8: \"text\" must be a string or null, got NUMBER", messages.get(3));
            assertNull(failed.get(messages.get(0)).get(0), "a line that is not JSON has no id");
            assertEquals(7L, failed.get(messages.get(2)).getLong(0), "an object's id is kept");
            assertEquals(8L, failed.get(messages.get(3)).getLong(0));
        } finally {
            spark.stop();
        }
    }

    @Test
    void anUnterminatedCsvQuoteFailsTheJobInsteadOfMergingRows(@TempDir Path dir) throws Exception {
        Path in = dir.resolve("in.csv");
        Files.writeString(
                in, "id,text\n1,first row\n2,\"a quoted, fine\nfield\"\n3,\"unterminated quote\n4,swallowed\n5,too\n");
        Result r = run(args(in, dir.resolve("out")));
        assertEquals(1, r.code(), r.log());
        assertTrue(r.log().contains("in.csv:5: the quoted field opened here is never closed"), r.log());

        Files.writeString(in, "id,text\n1,\"ends\" here\n2,x\n");
        r = run(args(in, dir.resolve("out2")));
        assertEquals(1, r.code(), r.log());
        assertTrue(r.log().contains("in.csv:2: text after the closing quote"), r.log());

        Files.writeString(in, "id,text\n1,first\n2,\"a quoted \"\"word\"\", and a\nnewline\"\n3,third\n");
        r = run(args(in, dir.resolve("out3")));
        assertEquals(0, r.code(), r.log());
        assertTrue(r.log().contains("records read 3 = rows written 3 + rows failed 0"), r.log());
    }

    @Test
    void aCommittedOutputThatLostRowsFailsTheAccountingCheck(@TempDir Path dir) throws Exception {
        Path in = dir.resolve("in.jsonl");
        List<String> lines = new java.util.ArrayList<>();
        for (int i = 0; i < 12; i++) {
            lines.add("{\"id\": " + i + ", \"text\": \"text number " + i + "\"}");
        }
        Files.write(in, lines);
        Path out = dir.resolve("out");
        Result r = run(args(in, out));
        assertEquals(0, r.code(), r.log());
        assertTrue(r.log().contains("records read 12 = rows written 12 + rows failed 0"), r.log());
        // A committed chunk loses its data files behind the job's back.
        try (var s = Files.list(out.resolve("chunk=0"))) {
            for (Path p : s.toList()) {
                Files.delete(p);
            }
        }
        r = run(args(in, out));
        assertEquals(1, r.code(), r.log());
        assertTrue(r.log().contains("records read (12) != rows written ("), r.log());
        assertTrue(r.log().contains("records were lost"), r.log());
    }
}

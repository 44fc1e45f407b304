package dev.attune.app.job;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.attune.task.EncoderScoring;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.unsafe.hash.Murmur3_x86_32;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The scoring job end to end: a run that fails part-way (a row over the text limit, in the last wave) keeps the
 * chunks it committed; after the input is fixed, re-running the same command finishes the rest
 * without touching them; every id is in the output exactly once, and the vectors equal those of
 * a clean run. Also on local-cluster with two simulated GPUs.
 */
@Timeout(600)
class ScoringJobTest {

    private static final int ROWS = 80;
    private static final int CHUNKS = 8;
    private final ObjectMapper json = new ObjectMapper();

    /** The chunk Spark assigns to a bigint id: pmod(hash(id), CHUNKS), hash = Murmur3 with seed 42. */
    private static int chunkOf(long id) {
        return chunkOf(id, CHUNKS);
    }

    private static int chunkOf(long id, int chunks) {
        return Math.floorMod(Murmur3_x86_32.hashLong(id, 42), chunks);
    }

    private List<String> sampleTexts() throws Exception {
        // The sample stays with the examples; spark.test.home is this module's directory.
        Path sample = Path.of(System.getProperty("spark.test.home")).getParent().resolve("examples/data/sample.jsonl");
        List<String> texts = new ArrayList<>();
        for (String line : Files.readAllLines(sample).subList(0, ROWS)) {
            texts.add(json.readTree(line).get("text").asText());
        }
        return texts;
    }

    private void writeInput(Path file, List<String> texts, long badId) throws Exception {
        List<String> lines = new ArrayList<>();
        for (int i = 0; i < texts.size(); i++) {
            ObjectNode n = json.createObjectNode();
            n.put("id", (long) i);
            n.put("text", texts.get(i));
            if (i == badId) {
                n.put("text", "far too long ".repeat(400)); // 5200 characters, over the job's limit of 4000
            }
            lines.add(json.writeValueAsString(n));
        }
        Files.write(file, lines);
    }

    private record Result(int code, String log) {}

    private static Result run(String... args) {
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        int code = ScoringJob.run(args, new PrintStream(buf, true, StandardCharsets.UTF_8));
        String log = buf.toString(StandardCharsets.UTF_8);
        System.out.print(log);
        return new Result(code, log);
    }

    private static Map<Long, float[]> readOutput(Path out, String master) {
        SparkSession spark = SparkSession.builder()
                .master(master)
                .appName("read")
                .config("spark.ui.enabled", "false")
                .config("spark.driver.host", "127.0.0.1")
                .config("spark.driver.bindAddress", "127.0.0.1")
                .getOrCreate();
        try {
            Map<Long, float[]> m = new TreeMap<>();
            for (Row r : spark.read().parquet(out.toString()).collectAsList()) {
                List<Float> v = r.getList(r.fieldIndex("embedding"));
                float[] a = new float[v.size()];
                for (int i = 0; i < a.length; i++) {
                    a[i] = v.get(i);
                }
                if (m.put(r.getLong(r.fieldIndex("id")), a) != null) {
                    throw new AssertionError("id " + r.getLong(r.fieldIndex("id")) + " appears twice");
                }
            }
            return m;
        } finally {
            spark.stop();
        }
    }

    @Test
    void failsPartWayThenResumesWithoutLosingOrDuplicatingRows(@TempDir Path dir) throws Exception {
        List<String> texts = sampleTexts();
        long badId = -1;
        for (long i = 0; i < ROWS && badId < 0; i++) {
            if (chunkOf(i) == CHUNKS - 1) {
                badId = i;
            }
        }
        Path in = dir.resolve("in.jsonl");
        Path out = dir.resolve("out");
        writeInput(in, texts, badId);
        String[] args = {
            "--input",
            in.toString(),
            "--output",
            out.toString(),
            "--chunks",
            String.valueOf(CHUNKS),
            "--chunks-per-job",
            "2",
            "--master",
            "local[2]",
            "--with-path-device",
            "--conf",
            "spark.attune.maxTextChars=4000"
        };

        Result first = run(args);
        assertEquals(1, first.code());
        assertTrue(first.log().contains("row " + badId) && first.log().contains("5200 characters"), first.log());
        List<Integer> committed = new ArrayList<>();
        for (int k = 0; k < CHUNKS; k++) {
            if (Files.exists(out.resolve("_attune/chunk-" + k + ".done"))) {
                committed.add(k);
            }
        }
        assertEquals(List.of(0, 1, 2, 3, 4, 5), committed, "the waves before the failing one are kept");
        Map<Path, Long> before = mtimes(out.resolve("chunk=0"));

        writeInput(in, texts, -1); // the operator fixes the bad row
        Result second = run(args);
        assertEquals(0, second.code(), second.log());
        assertTrue(second.log().contains("2 of 8 chunks to score (6 already committed)"), second.log());
        assertEquals(before, mtimes(out.resolve("chunk=0")), "committed chunks are not rewritten");

        Map<Long, float[]> resumed = readOutput(out, "local[1]");
        assertEquals(ROWS, resumed.size());
        Path clean = dir.resolve("clean");
        assertEquals(
                0,
                run(
                                "--input",
                                in.toString(),
                                "--output",
                                clean.toString(),
                                "--chunks",
                                String.valueOf(CHUNKS),
                                "--master",
                                "local[2]",
                                "--with-path-device",
                                "--conf",
                                "spark.attune.maxTextChars=4000")
                        .code());
        Map<Long, float[]> fresh = readOutput(clean, "local[1]");
        assertEquals(fresh.keySet(), resumed.keySet());
        for (long id : fresh.keySet()) {
            float[] a = fresh.get(id);
            float[] b = resumed.get(id);
            for (int c = 0; c < a.length; c++) {
                assertEquals(a[c], b[c], 1e-6, "id " + id);
            }
        }
        Result again = run(args);
        assertEquals(0, again.code());
        assertTrue(again.log().contains("0 of 8 chunks to score"), again.log());
        assertEquals(ROWS, readOutput(out, "local[1]").size(), "re-running a finished job changes nothing");

        Result otherSettings =
                run("--input", in.toString(), "--output", out.toString(), "--chunks", "4", "--master", "local[1]");
        assertEquals(1, otherSettings.code());
        assertTrue(otherSettings.log().contains("other settings"), otherSettings.log());
        assertEquals(2, run("--output", out.toString()).code());
    }

    @Test
    void mixedSimulatedClusterFailsPartWayResumesAndUsesBothDevices(@TempDir Path dir) throws Exception {
        List<String> texts = sampleTexts().subList(0, 48);
        long badId = -1;
        for (long i = 0; i < texts.size() && badId < 0; i++) {
            if (chunkOf(i, 4) == 3) {
                badId = i;
            }
        }
        Path in = dir.resolve("in.jsonl");
        writeInput(in, texts, badId);
        Path out = dir.resolve("out");
        String[] args = {
            "--input",
            in.toString(),
            "--output",
            out.toString(),
            "--chunks",
            "4",
            "--chunks-per-job",
            "2",
            "--master",
            "local-cluster[2,1,1024]",
            "--simulate-devices",
            "0=T4,1=A100",
            "--with-path-device",
            "--conf",
            "spark.attune.maxTextChars=4000",
            "--conf",
            "spark.attune.cache.dir=" + dev.attune.model.builtin.BuiltinModels.cacheRoot()
        };
        Result first = run(args);
        assertEquals(1, first.code(), first.log());
        assertTrue(
                Files.exists(out.resolve("_attune/chunk-0.done"))
                        && Files.exists(out.resolve("_attune/chunk-1.done"))
                        && !Files.exists(out.resolve("_attune/chunk-3.done")),
                "the first wave is kept, the failing one is not");

        writeInput(in, texts, -1);
        Result second = run(args);
        assertEquals(0, second.code(), second.log());
        assertTrue(second.log().contains("2 of 4 chunks to score (2 already committed)"), second.log());
        assertTrue(second.log().contains("Tesla T4 (simulated) / flash-sm75"), second.log());
        assertTrue(second.log().contains("NVIDIA A100-SXM4-40GB (simulated) / flash-sm80"), second.log());

        Map<Long, float[]> got = readOutput(out, "local[1]");
        assertEquals(48, got.size(), "every id exactly once");
        float[][] ref;
        try (var m = dev.attune.model.EncoderModel.load(
                        dev.attune.model.builtin.BuiltinModels.resolve("builtin:all-MiniLM-L6-v2"));
                var t = new dev.attune.kernels.cpu.CpuThreads(2)) {
            ref = EncoderScoring.embed(m, texts, 16, 4096, new dev.attune.kernels.attention.CpuMathAttention(), t);
        }
        for (long id : got.keySet()) {
            float[] a = got.get(id);
            float[] b = ref[(int) id];
            double dot = 0, na = 0, nb = 0;
            for (int c = 0; c < a.length; c++) {
                dot += a[c] * b[c];
                na += a[c] * a[c];
                nb += b[c] * b[c];
            }
            assertTrue(
                    dot / Math.sqrt(na * nb) >= 0.999, "id " + id + " matches the CPU reference within fp16 tolerance");
        }
    }

    private static Map<Path, Long> mtimes(Path dir) throws Exception {
        Map<Path, Long> m = new HashMap<>();
        try (Stream<Path> s = Files.list(dir)) {
            for (Path p : s.toList()) {
                m.put(p, Files.getLastModifiedTime(p).toMillis());
            }
        }
        return m;
    }
}

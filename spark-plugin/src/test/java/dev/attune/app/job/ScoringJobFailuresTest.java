package dev.attune.app.job;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.attune.model.builtin.BuiltinModels;
import dev.attune.model.llama.RandomDecoderCheckpoint;
import dev.attune.testing.ModelCopies;
import dev.attune.testing.decoder.TestTokenizers;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.ArrayList;
import java.util.List;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * How the scoring job fails: a bad setting, a missing, broken or wrong-family model are refused on
 * the driver as one line before Spark starts; outputs that are the input, inside it, or not Attune's
 * are refused; a second run on an output in use is refused while a killed run's lock and staging
 * directories are taken over and cleaned; the advice after a failure is true; blank lines and
 * duplicate ids are counted.
 */
@Timeout(300)
class ScoringJobFailuresTest {

    private static final ObjectMapper JSON = new ObjectMapper();

    private record Result(int code, String log) {
        List<String> lines() {
            return log.lines().toList();
        }
    }

    private static Result run(String... args) {
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        int code = ScoringJob.run(args, new PrintStream(buf, true, StandardCharsets.UTF_8));
        String log = buf.toString(StandardCharsets.UTF_8);
        System.out.print(log);
        return new Result(code, log);
    }

    private static String[] args(Path in, Path out, String... more) {
        List<String> a = new ArrayList<>(List.of(
                "--input",
                in.toString(),
                "--output",
                out.toString(),
                "--chunks",
                "2",
                "--chunks-per-job",
                "1",
                "--partitions",
                "1",
                "--master",
                "local[2]"));
        a.addAll(List.of(more));
        return a.toArray(new String[0]);
    }

    private static Path input(Path dir, int rows) throws Exception {
        Path in = dir.resolve("in.jsonl");
        List<String> lines = new ArrayList<>();
        for (int i = 0; i < rows; i++) {
            lines.add("{\"id\": " + i + ", \"text\": \"text number " + i + " about GPUs\"}");
        }
        Files.write(in, lines);
        return in;
    }

    private static void assertNoSession() {
        assertTrue(SparkSession.getActiveSession().isEmpty(), "Spark was started");
        assertTrue(SparkSession.getDefaultSession().isEmpty(), "Spark was started");
    }

    @Test
    void aBadSettingIsOneLineAndExitTwoBeforeSparkStarts(@TempDir Path dir) throws Exception {
        Result r = run(args(input(dir, 2), dir.resolve("out"), "--conf", "spark.attune.batch.maxTokens=abc"));
        assertEquals(2, r.code(), r.log());
        assertEquals(
                List.of(
                        "attune score: invalid Attune configuration: spark.attune.batch.maxTokens = 'abc' is not valid: "
                                + "not an integer"),
                r.lines());
        assertNoSession();
        assertFalse(Files.exists(dir.resolve("out")));
    }

    @Test
    void aMissingLocalInputIsOneLineBeforeSparkStarts(@TempDir Path dir) {
        Result r = run(args(dir.resolve("nope.jsonl"), dir.resolve("out")));
        assertEquals(1, r.code(), r.log());
        assertEquals(List.of("attune score: --input " + dir.resolve("nope.jsonl") + " does not exist"), r.lines());
        assertNoSession();
    }

    @Test
    void aMissingModelIsOneLineBeforeSparkStarts(@TempDir Path dir) throws Exception {
        Path missing = dir.resolve("no-such-model");
        for (String[] a : List.of(
                args(input(dir, 2), dir.resolve("out"), "--model", missing.toString()),
                args(input(dir, 2), dir.resolve("out"), "--conf", "spark.attune.model=" + missing))) {
            Result r = run(a);
            assertEquals(1, r.code(), r.log());
            assertEquals(List.of("attune score: model directory '" + missing + "' does not exist"), r.lines());
            assertNoSession();
        }
    }

    @Test
    void aModelMissingOnTheDriverOfAClusterIsLeftToTheExecutors(@TempDir Path dir) throws Exception {
        Path missing = dir.resolve("installed-on-workers-only");
        ScoringJob.Options cluster = ScoringJob.parse(new String[] {
            "--input", "in.jsonl", "--output", "out", "--model", missing.toString(), "--master", "spark://head:7077"
        });
        assertTrue(ScoringJob.preflight(cluster).description().contains("the executors check it"));
        ScoringJob.Options local = ScoringJob.parse(new String[] {
            "--input",
            input(dir, 2).toString(),
            "--output",
            "out",
            "--model",
            missing.toString(),
            "--master",
            "local[2]"
        });
        var e = org.junit.jupiter.api.Assertions.assertThrows(
                dev.attune.model.ModelFormatException.class, () -> ScoringJob.preflight(local));
        assertTrue(e.getMessage().contains("does not exist"), e.getMessage());
    }

    @Test
    void aBrokenModelIsNamedBeforeSparkStarts(@TempDir Path dir) throws Exception {
        Path model = ModelCopies.copy(
                BuiltinModels.resolve("builtin:all-MiniLM-L6-v2"), dir.resolve("model"), c -> {}, (n, s, d) -> d);
        Files.writeString(model.resolve("tokenizer.json"), "{\"version\": \"1.0\", \"model\": ");
        Result r = run(args(input(dir, 2), dir.resolve("out"), "--model", model.toString()));
        assertEquals(1, r.code(), r.log());
        assertEquals(1, r.lines().size(), r.log());
        assertTrue(r.log().contains(model.resolve("tokenizer.json") + ": not a usable tokenizer"), r.log());
        assertNoSession();

        Files.write(model.resolve("model.safetensors"), new byte[] {1, 2, 3});
        Files.copy(
                BuiltinModels.resolve("builtin:all-MiniLM-L6-v2").resolve("tokenizer.json"),
                model.resolve("tokenizer.json"),
                java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        r = run(args(input(dir, 2), dir.resolve("out"), "--model", model.toString()));
        assertEquals(1, r.code(), r.log());
        assertEquals(1, r.lines().size(), r.log());
        assertTrue(r.log().contains("model.safetensors"), r.log());
        assertNoSession();
    }

    @Test
    void weightsHoldingNanFailTheExecutorsStartAsOneLineNamingTheTensor(@TempDir Path dir) throws Exception {
        String tensor = "encoder.layer.1.output.LayerNorm.weight";
        Path model = ModelCopies.copy(
                BuiltinModels.resolve("builtin:all-MiniLM-L6-v2"), dir.resolve("model"), c -> {}, (n, s, d) -> {
                    if (!n.equals(tensor)) {
                        return d;
                    }
                    float[] out = d.clone();
                    out[3] = Float.NaN;
                    return out;
                });
        Result r = run(args(input(dir, 2), dir.resolve("out"), "--model", model.toString()));
        assertEquals(1, r.code(), r.log());
        List<String> lines = r.lines().stream()
                .filter(l -> !l.startsWith("attune score: model "))
                .toList();
        assertEquals(1, lines.size(), r.log());
        assertTrue(lines.get(0).startsWith("attune score: Spark did not start: "), r.log());
        assertTrue(lines.get(0).contains(tensor), r.log());
        assertTrue(lines.get(0).contains("NaN"), r.log());
        assertFalse(Files.exists(dir.resolve("out")));
    }

    @Test
    void aDecoderGivenToAnEncoderTaskIsRefusedNamingBoth(@TempDir Path dir) throws Exception {
        Path model = dir.resolve("llama");
        RandomDecoderCheckpoint.builder(RandomDecoderCheckpoint.ModelType.LLAMA)
                .numHeads(2)
                .numKvHeads(1)
                .headDim(8)
                .maxPositionEmbeddings(64)
                .seed(3L)
                .build()
                .write(model, TestTokenizers.dir("llama2"));
        Result r = run(args(input(dir, 2), dir.resolve("out"), "--model", model.toString()));
        assertEquals(1, r.code(), r.log());
        assertEquals(1, r.lines().size(), r.log());
        assertTrue(r.log().contains("is a decoder (llama, "), r.log());
        assertTrue(
                r.log().contains("--task embed needs an encoder: give another model, or --task loglik or choose"),
                r.log());
        assertNoSession();
    }

    @Test
    void outputsThatAreTheInputInsideItOrNotAttunesAreRefused(@TempDir Path dir) throws Exception {
        Path inDir = Files.createDirectories(dir.resolve("inputs"));
        Files.write(inDir.resolve("part.json"), List.of("{\"id\": 1, \"text\": \"one\"}"));
        Result r = run(args(inDir, inDir.resolve("scored"), "--format", "json"));
        assertEquals(1, r.code(), r.log());
        assertTrue(r.log().contains("the output is inside the input"), r.log());
        r = run(args(inDir, inDir, "--format", "json"));
        assertEquals(1, r.code(), r.log());
        assertTrue(r.log().contains("are the same path"), r.log());

        Path other = Files.createDirectories(dir.resolve("someone-elses"));
        Files.writeString(other.resolve("keep.txt"), "precious");
        r = run(args(input(dir, 2), other));
        assertEquals(1, r.code(), r.log());
        assertTrue(r.log().contains("exists and is not an Attune output (no _attune/job.json)"), r.log());
        assertEquals("precious", Files.readString(other.resolve("keep.txt")));
        try (var s = Files.list(other)) {
            assertEquals(1, s.count(), "nothing written into it");
        }
        assertFalse(r.log().contains("same command"), "no advice to re-run what is refused again");
    }

    @Test
    void aSettingsMismatchOnResumeGivesNoAdviceToReRunTheSameCommand(@TempDir Path dir) throws Exception {
        Path in = input(dir, 6);
        Path out = dir.resolve("out");
        assertEquals(0, run(args(in, out)).code());
        Result r = run(args(in, out, "--with-path-device"));
        assertEquals(1, r.code(), r.log());
        assertTrue(r.log().contains("was written with other settings"), r.log());
        assertFalse(r.log().contains("same command"), r.log());
    }

    @Test
    void staleStagingIsRemovedAndALiveRunsLockRefusesASecondRun(@TempDir Path dir) throws Exception {
        Path in = input(dir, 6);
        Path out = dir.resolve("out");
        assertEquals(0, run(args(in, out)).code());
        Path meta = out.resolve("_attune");
        assertFalse(Files.exists(meta.resolve("lock")), "the lock goes at the end");

        // A run killed mid-wave: its staging directory and its lock (its process is gone).
        Path staging = Files.createDirectories(meta.resolve("staging-killed/attune_chunk=0"));
        Files.writeString(staging.resolve("part-0.parquet"), "partial");
        String host = java.net.InetAddress.getLocalHost().getHostName();
        Process gone = new ProcessBuilder("true").start();
        gone.waitFor();
        Files.writeString(meta.resolve("lock"), lockJson(host, gone.pid()));
        Result r = run(args(in, out));
        assertEquals(0, r.code(), r.log());
        assertTrue(r.log().contains("removed 1 staging directory left by an earlier run"), r.log());
        assertFalse(Files.exists(meta.resolve("staging-killed")));
        assertTrue(r.log().contains("records read 6 = rows written 6 + rows failed 0"), r.log());

        // A live run (this JVM) holds the output: a second run is refused and the lock stays.
        Files.writeString(
                meta.resolve("lock"), lockJson(host, ProcessHandle.current().pid()));
        r = run(args(in, out));
        assertEquals(1, r.code(), r.log());
        assertTrue(
                r.log()
                        .contains("is being written by another run (process "
                                + ProcessHandle.current().pid()),
                r.log());
        assertTrue(Files.exists(meta.resolve("lock")));

        // A run on another host that stopped touching its lock for longer than the lease.
        Files.writeString(meta.resolve("lock"), lockJson("another-host", 1));
        r = run(args(in, out));
        assertEquals(1, r.code(), "a fresh lock of another host is live: " + r.log());
        Files.setLastModifiedTime(
                meta.resolve("lock"), FileTime.fromMillis(System.currentTimeMillis() - OutputLock.LEASE_MS - 1000));
        r = run(args(in, out));
        assertEquals(0, r.code(), r.log());
        assertFalse(Files.exists(meta.resolve("lock")));
    }

    private static String lockJson(String host, long pid) {
        return "{\"owner\": \"x\", \"host\": \"" + host + "\", \"pid\": " + pid
                + ", \"started\": \"2026-12-01T00:00:00Z\"}";
    }

    @Test
    void blankLinesAndDuplicateIdsAreCountedAndReported(@TempDir Path dir) throws Exception {
        Path in = dir.resolve("in.jsonl");
        Files.writeString(
                in,
                "{\"id\": 1, \"text\": \"one\"}\n\n{\"id\": 2, \"text\": \"two\"}\n   \n"
                        + "{\"id\": 1, \"text\": \"one again\"}\n{\"id\": 3, \"text\": \"three\"}\n");
        Path out = dir.resolve("out");
        Result r = run(args(in, out));
        assertEquals(0, r.code(), r.log());
        assertTrue(r.log().contains("2 blank lines skipped"), r.log());
        assertTrue(r.log().contains("1 id occurs more than once (e.g. id = 1)"), r.log());
        assertTrue(r.log().contains("records read 4 = rows written 4 + rows failed 0"), r.log());
        JsonNode counts = JSON.readTree(out.resolve("_attune/counts.json").toFile());
        assertEquals(2, counts.get("blankLines").asLong());
        assertEquals(1, counts.get("duplicateIds").asLong());
        assertEquals(0, counts.get("unreadableRecords").asLong());
    }
}

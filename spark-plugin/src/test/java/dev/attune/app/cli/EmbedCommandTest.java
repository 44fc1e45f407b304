package dev.attune.app.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code attune embed} end to end on the built-in model: order, ids, nulls, errors and exit codes. */
class EmbedCommandTest {

    private final ObjectMapper json = new ObjectMapper();

    private record Run(int code, String err) {}

    private static Run run(String... args) {
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        int code = AttuneCli.run(args, new PrintStream(buf, true, StandardCharsets.UTF_8));
        return new Run(code, buf.toString(StandardCharsets.UTF_8));
    }

    @Test
    void embedsEveryRowInInputOrderWithItsId(@TempDir Path dir) throws Exception {
        Path in = dir.resolve("in.jsonl");
        Path out = dir.resolve("out.jsonl");
        Files.write(
                in,
                List.of(
                        "{\"id\": 7, \"text\": \"A long sentence about GPUs, attention kernels and Spark executors on a cluster.\"}",
                        "",
                        "{\"id\": \"b\", \"text\": \"short\"}",
                        "{\"id\": {\"k\": [1, 2]}, \"text\": null}",
                        "{\"id\": 3.5, \"text\": \"   \"}",
                        "{\"id\": null, \"text\": \"\"}"));
        Run r = run(
                "embed", "--input", in.toString(), "--output", out.toString(), "--batch-size", "2", "--threads", "2");
        assertEquals(0, r.code(), r.err());
        List<String> lines = Files.readAllLines(out);
        assertEquals(5, lines.size());
        JsonNode first = json.readTree(lines.get(0));
        assertEquals(7, first.get("id").asInt());
        assertEquals(384, first.get("embedding").size());
        double norm = 0;
        for (JsonNode v : first.get("embedding")) {
            norm += v.asDouble() * v.asDouble();
        }
        assertEquals(1.0, Math.sqrt(norm), 1e-5);
        assertEquals("b", json.readTree(lines.get(1)).get("id").asText());
        JsonNode nullRow = json.readTree(lines.get(2));
        assertEquals(json.readTree("{\"k\": [1, 2]}"), nullRow.get("id"));
        assertTrue(nullRow.get("embedding").isNull(), "a null text gets a null embedding");
        JsonNode blank = json.readTree(lines.get(3));
        JsonNode empty = json.readTree(lines.get(4));
        assertEquals(3.5, blank.get("id").asDouble());
        assertTrue(empty.get("id").isNull());
        assertEquals(384, blank.get("embedding").size());
        assertEquals(
                blank.get("embedding"), empty.get("embedding"), "whitespace-only text is embedded as the empty string");
        assertTrue(r.err().contains("5 rows"), r.err());
    }

    @Test
    void malformedLineIsAnErrorNamingItsLineAndWritesNothing(@TempDir Path dir) throws Exception {
        Path in = dir.resolve("in.jsonl");
        Path out = dir.resolve("out.jsonl");
        Files.write(
                in,
                List.of(
                        "{\"id\": 1, \"text\": \"fine\"}",
                        "{\"id\": 2, \"text\": \"also fine\"}",
                        "{\"id\": 3, \"text\": "));
        Run r = run("embed", "--input", in.toString(), "--output", out.toString());
        assertEquals(1, r.code());
        assertTrue(r.err().contains("in.jsonl:3"), r.err());
        assertFalse(Files.exists(out), "no partial output");
        try (var s = Files.list(dir)) {
            assertEquals(1, s.count(), "no temporary file left behind");
        }
    }

    @Test
    void invalidUtf8IsNamedByFileAndLineEvenFarIntoTheFile(@TempDir Path dir) throws Exception {
        Path in = dir.resolve("in.jsonl");
        Path out = dir.resolve("out.jsonl");
        var b = new java.io.ByteArrayOutputStream();
        for (int i = 1; i < 700; i++) { // well past a reader's 8 KB read-ahead
            b.writeBytes(
                    ("{\"id\": " + i + ", \"text\": \"line number " + i + "\"}\n").getBytes(StandardCharsets.UTF_8));
        }
        b.writeBytes("{\"id\": 700, \"text\": \"caf".getBytes(StandardCharsets.UTF_8));
        b.write(0xe9); // Latin-1 é: not UTF-8
        b.writeBytes("\"}\n".getBytes(StandardCharsets.UTF_8));
        Files.write(in, b.toByteArray());
        Run r = run("embed", "--input", in.toString(), "--output", out.toString());
        assertEquals(1, r.code(), r.err());
        assertTrue(r.err().contains(in + ":700: not valid UTF-8 (byte 0xe9 at byte 25)"), r.err());
        assertFalse(r.err().contains("MalformedInputException"), r.err());
        assertFalse(Files.exists(out), "no partial output");
    }

    @Test
    void blankLinesAndRepeatedIdsAreCountedInTheSummary(@TempDir Path dir) throws Exception {
        Path in = dir.resolve("in.jsonl");
        Path out = dir.resolve("out.jsonl");
        Files.writeString(
                in,
                "{\"id\": 1, \"text\": \"one\"}\n\n{\"id\": \"a\", \"text\": \"two\"}\n  \r\n{\"id\": 1, \"text\": \"again\"}\n");
        Run r = run("embed", "--input", in.toString(), "--output", out.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.err().contains("attune embed: 3 rows in "), r.err());
        assertTrue(
                r.err()
                        .contains(
                                "; 2 blank lines skipped; 1 row repeats an earlier id (the first: id 1 (line 5)), each written"),
                r.err());
        assertEquals(3, Files.readAllLines(out).size());
    }

    @Test
    void wrongShapesOfLinesAreNamed(@TempDir Path dir) throws Exception {
        Path out = dir.resolve("out.jsonl");
        String[][] cases = {
            {"[1, 2]", "expected a JSON object"},
            {"{\"text\": \"no id\"}", "missing \"id\""},
            {"{\"id\": 1}", "missing \"text\""},
            {"{\"id\": 1, \"text\": 42}", "must be a string or null"},
        };
        for (String[] c : cases) {
            Path in = dir.resolve("bad.jsonl");
            Files.write(in, List.of("{\"id\": 0, \"text\": \"ok\"}", c[0]));
            Run r = run("embed", "--input", in.toString(), "--output", out.toString());
            assertEquals(1, r.code(), c[0]);
            assertTrue(r.err().contains("bad.jsonl:2") && r.err().contains(c[1]), r.err());
        }
    }

    @Test
    void commandLineMistakesExitWithTwo(@TempDir Path dir) {
        assertEquals(2, run().code());
        Run unknown = run("embed", "--input", "x", "--output", "y", "--bogus", "1");
        assertEquals(2, unknown.code());
        assertTrue(unknown.err().contains("unknown option --bogus"));
        Run missing = run("embed", "--output", "y");
        assertEquals(2, missing.code());
        assertTrue(missing.err().contains("--input"));
        Run badBatch = run("embed", "--input", "x", "--output", "y", "--batch-size", "0");
        assertEquals(2, badBatch.code());
        Run noFile = run("embed", "--input", dir.resolve("absent.jsonl").toString(), "--output", "y");
        assertEquals(2, noFile.code());
        assertTrue(noFile.err().contains("does not exist"));
        assertEquals(2, run("frobnicate").code());
    }

    @Test
    void unknownModelIsAClearError(@TempDir Path dir) throws Exception {
        Path in = dir.resolve("in.jsonl");
        Files.write(in, List.of("{\"id\": 1, \"text\": \"x\"}"));
        Run r = run(
                "embed", "--input", in.toString(), "--output", dir.resolve("o").toString(), "--model", "builtin:nope");
        assertEquals(1, r.code());
        assertTrue(
                r.err().contains("unknown built-in model 'builtin:nope'")
                        && r.err().contains("builtin:all-MiniLM-L6-v2"),
                r.err());
        Run missingDir = run(
                "embed",
                "--input",
                in.toString(),
                "--output",
                dir.resolve("o").toString(),
                "--model",
                dir.resolve("no-such-model").toString());
        assertEquals(1, missingDir.code());
        assertTrue(missingDir.err().contains("does not exist"), missingDir.err());
        assertFalse(missingDir.err().contains("\tat "), "no stack trace: " + missingDir.err());
        Run verbose = run(
                "embed",
                "--input",
                in.toString(),
                "--output",
                dir.resolve("o").toString(),
                "--model",
                dir.resolve("no-such-model").toString(),
                "--verbose");
        assertEquals(1, verbose.code());
        assertTrue(verbose.err().contains("does not exist"), verbose.err());
        assertTrue(
                verbose.err().contains("\tat dev.attune.model.io.ModelLocator"),
                "--verbose: the trace: " + verbose.err());
    }

    @Test
    void refusesAnExistingOutputUnlessOverwriteAndHonoursTheUmask(@TempDir Path dir) throws Exception {
        Path in = dir.resolve("in.jsonl");
        Files.write(in, List.of("{\"id\": 1, \"text\": \"fine\"}"));
        Path out = dir.resolve("out.jsonl");
        Files.write(out, List.of("keep me"));
        Run r = run("embed", "--input", in.toString(), "--output", out.toString());
        assertEquals(2, r.code(), r.err());
        assertTrue(r.err().contains("already exists") && r.err().contains("--overwrite"), r.err());
        assertEquals(List.of("keep me"), Files.readAllLines(out));

        Files.delete(out);
        r = run("embed", "--input", in.toString(), "--output", out.toString());
        assertEquals(0, r.code(), r.err());
        // A file made with default attributes in the same directory: what the umask gives.
        Path probe = Files.createFile(dir.resolve("probe"));
        assertEquals(
                PosixFilePermissions.toString(Files.getPosixFilePermissions(probe)),
                PosixFilePermissions.toString(Files.getPosixFilePermissions(out)),
                "the output's mode follows the umask");
        Files.delete(probe);

        Files.write(out, List.of("old"));
        r = run("embed", "--input", in.toString(), "--output", out.toString(), "--overwrite");
        assertEquals(0, r.code(), r.err());
        List<String> lines = Files.readAllLines(out);
        assertEquals(1, lines.size());
        assertEquals(384, json.readTree(lines.get(0)).get("embedding").size());
        assertOnly(dir, "in.jsonl", "out.jsonl");
    }

    @Test
    void refusesAnOutputThatIsTheInputEvenWithOverwrite(@TempDir Path dir) throws Exception {
        Path in = dir.resolve("in.jsonl");
        List<String> content = List.of("{\"id\": 1, \"text\": \"fine\"}");
        Files.write(in, content);
        Files.createDirectory(dir.resolve("sub"));
        Path link = Files.createSymbolicLink(dir.resolve("link.jsonl"), in);
        for (Path same : List.of(in, dir.resolve("sub/../in.jsonl"), link)) {
            Run r = run("embed", "--input", in.toString(), "--output", same.toString(), "--overwrite");
            assertEquals(2, r.code(), r.err());
            assertTrue(r.err().contains("is the input"), same + ": " + r.err());
            assertEquals(content, Files.readAllLines(in));
        }
        assertOnly(dir, "in.jsonl", "link.jsonl", "sub");
    }

    @Test
    void aDirectoryOrAMissingDirectoryAsOutputIsRefusedBeforeAnyWork(@TempDir Path dir) throws Exception {
        Path in = dir.resolve("in.jsonl");
        Files.write(in, List.of("{\"id\": 1, \"text\": \"fine\"}"));
        Path sub = Files.createDirectory(dir.resolve("sub"));
        Run r = run("embed", "--input", in.toString(), "--output", sub.toString());
        assertEquals(2, r.code(), r.err());
        assertTrue(r.err().contains("is a directory"), r.err());
        assertFalse(r.err().contains("rows in"), "no success summary: " + r.err());
        r = run(
                "embed",
                "--input",
                in.toString(),
                "--output",
                dir.resolve("none/out.jsonl").toString());
        assertEquals(2, r.code(), r.err());
        assertTrue(r.err().contains("directory of output") && r.err().contains("does not exist"), r.err());
        assertOnly(dir, "in.jsonl", "sub");
        try (var s = Files.list(sub)) {
            assertEquals(0, s.count(), "nothing written into the directory");
        }
    }

    /** The directory holds exactly these names: no temporary or partial file is left behind. */
    private static void assertOnly(Path dir, String... names) throws Exception {
        try (var s = Files.list(dir)) {
            assertEquals(
                    new java.util.TreeSet<>(List.of(names)),
                    new java.util.TreeSet<>(
                            s.map(p -> p.getFileName().toString()).toList()));
        }
    }
}

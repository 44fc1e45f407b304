package dev.attune.app.job;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.attune.kernels.cpu.CpuThreads;
import dev.attune.kernels.device.DeviceInfo;
import dev.attune.kernels.select.UserOverrides;
import dev.attune.model.DecoderModel;
import dev.attune.model.llama.RandomDecoderCheckpoint;
import dev.attune.runtime.DeviceRunner;
import dev.attune.task.LabelChoice;
import dev.attune.task.LogLikelihood;
import dev.attune.task.ScoreRequest;
import dev.attune.task.SequenceScore;
import dev.attune.testing.SparkSessions;
import dev.attune.testing.TestTexts;
import dev.attune.testing.decoder.TestTokenizers;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The scoring job's decoder tasks: {@code --task loglik} (with a prompt column) and
 * {@code --task choose} write one row per id with the numbers {@link LogLikelihood} and
 * {@link LabelChoice} give directly; re-running the same command is idempotent (nothing is
 * re-scored, every id once).
 */
@Timeout(300)
class ScoringJobDecoderTest {

    static final List<String> LABELS = List.of(" yes", " no", " maybe so");

    @TempDir
    static Path tmp;

    static SparkSession spark;
    static Path modelDir;
    static Path input;
    static List<String> texts = new ArrayList<>();

    @BeforeAll
    static void start() throws Exception {
        modelDir = tmp.resolve("llama");
        RandomDecoderCheckpoint.builder(RandomDecoderCheckpoint.ModelType.LLAMA)
                .numHeads(4)
                .numKvHeads(2)
                .headDim(16)
                .maxPositionEmbeddings(128)
                .initStd(0.3)
                .seed(7L)
                .build()
                .write(modelDir, TestTokenizers.dir("llama2"));
        ObjectMapper json = new ObjectMapper();
        List<String> lines = new ArrayList<>();
        for (int i = 0; i < 24; i++) {
            String text = TestTexts.VARIED.get(i % TestTexts.VARIED.size());
            if (text.length() > 200) {
                text = text.substring(0, 200);
            }
            texts.add(text);
            ObjectNode o = json.createObjectNode();
            o.put("id", (long) i);
            o.put("text", text);
            o.put("prompt", "Q" + i + ":");
            var c = o.putArray("choices");
            LABELS.forEach(c::add);
            lines.add(json.writeValueAsString(o));
        }
        input = tmp.resolve("in.jsonl");
        Files.write(input, lines);
        spark = SparkSessions.start("local[2]", Map.of());
    }

    @AfterAll
    static void stop() {
        if (spark != null) {
            spark.stop();
        }
    }

    static ScoringJob.Summary run(String... args) {
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        ScoringJob.Summary s =
                ScoringJob.execute(spark, ScoringJob.parse(args), new PrintStream(buf, true, StandardCharsets.UTF_8));
        assertNotNull(s, buf.toString(StandardCharsets.UTF_8));
        return s;
    }

    @Test
    void loglikWritesTheTableAndAReRunIsIdempotent() throws Exception {
        Path out = tmp.resolve("loglik-out");
        String[] args = {
            "--input",
            input.toString(),
            "--output",
            out.toString(),
            "--task",
            "loglik",
            "--model",
            modelDir.toString(),
            "--prompt-col",
            "prompt",
            "--chunks",
            "4",
            "--chunks-per-job",
            "2"
        };
        ScoringJob.Summary first = run(args);
        assertEquals(24, first.rowsThisRun());
        List<Row> rows = spark.read().parquet(out.toString()).orderBy("id").collectAsList();
        assertEquals(24, rows.size());
        assertEquals(
                List.of("id", "logprob", "mean_logprob", "tokens"),
                Arrays.asList(spark.read().parquet(out.toString()).drop("chunk").columns()));
        try (DecoderModel model = DecoderModel.load(modelDir);
                CpuThreads threads = new CpuThreads(1)) {
            LogLikelihood direct = new LogLikelihood(
                    model, new DeviceRunner(DeviceInfo.cpu(), UserOverrides.NONE, 0.9), threads, 16, 16384, false);
            List<ScoreRequest> req = new ArrayList<>();
            for (int i = 0; i < texts.size(); i++) {
                req.add(new ScoreRequest("Q" + i + ":", texts.get(i)));
            }
            SequenceScore[] want = direct.score(req);
            for (Row r : rows) {
                int i = (int) r.getLong(r.fieldIndex("id"));
                assertEquals(
                        want[i].logprob(), r.getDouble(r.fieldIndex("logprob")), 1e-6 * Math.abs(want[i].logprob()));
                assertEquals(
                        want[i].meanLogprob(),
                        r.getDouble(r.fieldIndex("mean_logprob")),
                        1e-6 * Math.abs(want[i].meanLogprob()));
                assertEquals(want[i].scoredTokens(), r.getInt(r.fieldIndex("tokens")));
            }
        }
        ScoringJob.Summary second = run(args);
        assertEquals(0, second.rowsThisRun(), "a re-run scores nothing again");
        assertEquals(24, second.totalRows());
        assertEquals(
                24, spark.read().parquet(out.toString()).select("id").distinct().count());
        // Other settings are refused instead of mixed.
        String[] other = args.clone();
        other[Arrays.asList(args).indexOf("prompt")] = "text";
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        assertEquals(
                null,
                ScoringJob.execute(spark, ScoringJob.parse(other), new PrintStream(buf, true, StandardCharsets.UTF_8)));
        assertTrue(
                buf.toString(StandardCharsets.UTF_8).contains("other settings"), buf.toString(StandardCharsets.UTF_8));
    }

    @Test
    void chooseWritesTheBestLabel() throws Exception {
        Path out = tmp.resolve("choose-out");
        run(
                "--input",
                input.toString(),
                "--output",
                out.toString(),
                "--task",
                "choose",
                "--model",
                modelDir.toString(),
                "--choices-col",
                "choices",
                "--chunks",
                "2",
                "--chunks-per-job",
                "2");
        List<Row> rows = spark.read().parquet(out.toString()).orderBy("id").collectAsList();
        assertEquals(24, rows.size());
        try (DecoderModel model = DecoderModel.load(modelDir);
                CpuThreads threads = new CpuThreads(1)) {
            LogLikelihood direct = new LogLikelihood(
                    model, new DeviceRunner(DeviceInfo.cpu(), UserOverrides.NONE, 0.9), threads, 16, 16384, false);
            List<LabelChoice.Request> req =
                    texts.stream().map(t -> new LabelChoice.Request(t, LABELS)).toList();
            LabelChoice.Choice[] want = new LabelChoice(direct, false).choose(req);
            for (Row r : rows) {
                int i = (int) r.getLong(r.fieldIndex("id"));
                assertEquals(want[i].label(), r.getString(r.fieldIndex("label")), "row " + i);
                assertEquals(want[i].index(), r.getInt(r.fieldIndex("label_index")), "row " + i);
                assertEquals(LABELS.size(), r.getList(r.fieldIndex("scores")).size());
            }
        }
    }

    @Test
    void decoderOptionsAreChecked() {
        assertThrows(
                IllegalArgumentException.class,
                () -> ScoringJob.parse(new String[] {"--input", "x", "--output", "y", "--task", "choose"}));
        assertThrows(
                IllegalArgumentException.class,
                () -> ScoringJob.parse(
                        new String[] {"--input", "x", "--output", "y", "--task", "embed", "--prompt-col", "p"}));
        IllegalArgumentException e = assertThrows(
                IllegalArgumentException.class,
                () -> ScoringJob.parse(
                        new String[] {"--input", "x", "--output", "y", "--task", "loglik", "--temperature", "1"}));
        assertEquals("--temperature is for --task generate", e.getMessage());
        e = assertThrows(
                IllegalArgumentException.class,
                () -> ScoringJob.parse(
                        new String[] {"--input", "x", "--output", "y", "--task", "generate", "--top-k", "1.5"}));
        assertEquals("--top-k '1.5' is not an integer", e.getMessage());
        e = assertThrows(
                IllegalArgumentException.class,
                () -> ScoringJob.parse(
                        new String[] {"--input", "x", "--output", "y", "--task", "generate", "--top-p", "0"}));
        assertTrue(e.getMessage().contains("top-p 0.0 must be in (0, 1]"), e.getMessage());
    }

    @Test
    void generateWritesEveryIdOnceTheSameWhateverThePartitioningAndResumes() throws Exception {
        List<String> common = List.of(
                "--input",
                input.toString(),
                "--task",
                "generate",
                "--model",
                modelDir.toString(),
                "--max-new-tokens",
                "5",
                "--temperature",
                "0.8",
                "--top-p",
                "0.95",
                "--seed",
                "5",
                "--stop",
                ".");
        Path a = tmp.resolve("generate-a");
        Path b = tmp.resolve("generate-b");
        List<String> runA = new ArrayList<>(common);
        runA.addAll(List.of("--output", a.toString(), "--chunks", "4", "--chunks-per-job", "2"));
        List<String> runB = new ArrayList<>(common);
        runB.addAll(List.of("--output", b.toString(), "--chunks", "3"));
        assertEquals(24, run(runA.toArray(String[]::new)).rowsThisRun());
        assertEquals(24, run(runB.toArray(String[]::new)).rowsThisRun());
        var outA = spark.read().parquet(a.toString()).drop("chunk");
        assertEquals(
                List.of(
                        "id",
                        "text",
                        "tokens",
                        "prompt_tokens",
                        "completion_tokens",
                        "finish_reason",
                        "token_logprobs"),
                Arrays.asList(outA.columns()));
        List<Row> ra = outA.orderBy("id").collectAsList();
        List<Row> rb =
                spark.read().parquet(b.toString()).drop("chunk").orderBy("id").collectAsList();
        assertEquals(24, ra.size());
        try (DecoderModel model = DecoderModel.load(modelDir)) {
            for (int i = 0; i < 24; i++) {
                Row r = ra.get(i);
                assertEquals(i, r.getLong(0));
                assertEquals(r, rb.get(i), "row " + i + ": the same text whichever partition generates it");
                assertEquals(model.tokenize(texts.get(i)).length, r.getInt(3), "row " + i + " prompt_tokens");
                int n = r.getList(2).size();
                assertEquals(n, r.getInt(4));
                assertTrue(
                        r.getString(5).equals("length")
                                ? n == 5
                                : r.getString(5).equals("stop") && n <= 5,
                        r.toString());
            }
        }
        assertEquals(0, run(runA.toArray(String[]::new)).rowsThisRun(), "a re-run generates nothing again");
        // The CLI, with the same flags on the same file, samples every id's same tokens.
        Path cli = tmp.resolve("generate-cli.jsonl");
        List<String> cliArgs = new ArrayList<>(List.of("generate", "--output", cli.toString(), "--threads", "2"));
        cliArgs.addAll(common.stream()
                .filter(x -> !x.equals("--task") && !x.equals("generate"))
                .toList());
        ByteArrayOutputStream cliLog = new ByteArrayOutputStream();
        assertEquals(
                0,
                dev.attune.app.cli.AttuneCli.run(
                        cliArgs.toArray(String[]::new), new PrintStream(cliLog, true, StandardCharsets.UTF_8)),
                cliLog.toString(StandardCharsets.UTF_8));
        List<String> cliLines = Files.readAllLines(cli);
        ObjectMapper json = new ObjectMapper();
        for (int i = 0; i < 24; i++) {
            var line = json.readTree(cliLines.get(i));
            assertEquals(i, line.get("id").asInt());
            assertEquals(
                    ra.get(i).getList(2).toString(),
                    line.get("tokens").toString().replace(",", ", "),
                    "row " + i);
            assertEquals(ra.get(i).getString(1), line.get("text").asText(), "row " + i);
        }
        // Other sampling would mix two outputs: refused.
        List<String> other = new ArrayList<>(runA);
        other.set(other.indexOf("--seed") + 1, "6");
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        assertEquals(
                null,
                ScoringJob.execute(
                        spark,
                        ScoringJob.parse(other.toArray(String[]::new)),
                        new PrintStream(buf, true, StandardCharsets.UTF_8)));
        assertTrue(
                buf.toString(StandardCharsets.UTF_8).contains("other settings"), buf.toString(StandardCharsets.UTF_8));
    }
}

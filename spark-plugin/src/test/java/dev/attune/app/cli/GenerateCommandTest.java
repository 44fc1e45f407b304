package dev.attune.app.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.attune.kernels.cpu.CpuThreads;
import dev.attune.kernels.ops.CpuWeights;
import dev.attune.kernels.select.ComputeDtype;
import dev.attune.model.DecoderModel;
import dev.attune.model.llama.LlamaGraph;
import dev.attune.model.llama.RandomDecoderCheckpoint;
import dev.attune.model.llama.RandomDecoderCheckpoint.ModelType;
import dev.attune.testing.decoder.TestTokenizers;
import dev.attune.testing.decoder.UncachedGreedy;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code attune generate} end to end, exactly its contract: one line per input row in input order
 * with {@code id}, {@code prompt_tokens} (the tokenizer's ids, special tokens included),
 * {@code tokens}, {@code text}, {@code finish_reason}, {@code device}, {@code path}; greedy tokens
 * equal to an uncached greedy loop; chat messages rendered by the model's template; sampled rows
 * reproduced with the same seed whatever the batching; an existing output refused.
 */
class GenerateCommandTest {

    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    static Path tmp;

    private static Path model;

    @BeforeAll
    static void checkpoint() throws Exception {
        model = tmp.resolve("qwen3");
        RandomDecoderCheckpoint.builder(ModelType.QWEN3)
                .numHeads(4)
                .numKvHeads(2)
                .headDim(16)
                .vocabSize(151936)
                .bosTokenId(151643)
                .eosTokenIds(151645)
                .initStd(0.3)
                .build()
                .write(model, TestTokenizers.dir("qwen3"));
    }

    private record Run(int code, String err) {}

    private static Run run(String... args) {
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        int code = AttuneCli.run(args, new PrintStream(buf, true, StandardCharsets.UTF_8));
        return new Run(code, buf.toString(StandardCharsets.UTF_8));
    }

    private static List<JsonNode> lines(Path out) throws Exception {
        List<JsonNode> r = new ArrayList<>();
        for (String l : Files.readAllLines(out)) {
            r.add(JSON.readTree(l));
        }
        return r;
    }

    private static int[] ints(JsonNode arr) {
        int[] r = new int[arr.size()];
        for (int i = 0; i < r.length; i++) {
            r[i] = arr.get(i).asInt();
        }
        return r;
    }

    @Test
    void greedyRowsFollowTheContractInInputOrder() throws Exception {
        Path in = tmp.resolve("in.jsonl");
        Files.write(
                in,
                List.of(
                        "{\"id\": 1, \"text\": \"The quick brown fox\"}",
                        "{\"id\": \"two\", \"messages\": [{\"role\": \"user\", \"content\": \"Hi there\"}]}",
                        "",
                        "{\"id\": 3, \"text\": \"a\"}"));
        Path out = tmp.resolve("out.jsonl");
        Run r = run(
                "generate",
                "--model",
                model.toString(),
                "--input",
                in.toString(),
                "--output",
                out.toString(),
                "--max-new-tokens",
                "5",
                "--threads",
                "2",
                "--max-active",
                "2");
        assertEquals(0, r.code(), r.err());
        List<JsonNode> rows = lines(out);
        assertEquals(3, rows.size());
        assertEquals(1, rows.get(0).get("id").asInt());
        assertEquals("two", rows.get(1).get("id").asText());
        assertEquals(3, rows.get(2).get("id").asInt());
        try (DecoderModel m = DecoderModel.load(model);
                CpuThreads threads = new CpuThreads(2)) {
            LlamaGraph.Resident w = m.graph().residentOn(new CpuWeights(ComputeDtype.FP32));
            String chat = m.chatPrompt(List.of(new dev.attune.model.prompt.ChatMessage("user", "Hi there")));
            String[] prompts = {"The quick brown fox", chat, "a"};
            for (int i = 0; i < 3; i++) {
                JsonNode row = rows.get(i);
                int[] prompt = m.tokenize(prompts[i]);
                assertEquals(Arrays.toString(prompt), Arrays.toString(ints(row.get("prompt_tokens"))), "row " + i);
                int[] want = UncachedGreedy.continuation(m.graph(), w, threads, prompt, 5);
                int[] got = ints(row.get("tokens"));
                // An end-of-sequence token may stop a row early; up to there the tokens agree.
                assertEquals(
                        Arrays.toString(Arrays.copyOf(want, got.length)), Arrays.toString(got), "row " + i + " tokens");
                String reason = row.get("finish_reason").asText();
                assertTrue(
                        reason.equals("length")
                                ? got.length == 5
                                : reason.equals("stop") && got[got.length - 1] == 151645,
                        row.toString());
                assertEquals("cpu", row.get("device").asText());
                assertEquals("cpu-flash", row.get("path").asText());
                assertTrue(row.get("text").isTextual());
            }
        }
        assertTrue(r.err().contains("attune generate: 3 rows"), r.err());
        // The output exists now: a second run is refused and leaves it as it was.
        String before = Files.readString(out);
        Run again = run("generate", "--model", model.toString(), "--input", in.toString(), "--output", out.toString());
        assertEquals(2, again.code());
        assertTrue(again.err().contains("already exists"), again.err());
        assertEquals(before, Files.readString(out));
    }

    @Test
    void sampledRowsAreReproducedWithTheSameSeedWhateverTheBatching() throws Exception {
        Path in = tmp.resolve("sample.jsonl");
        List<String> lines = new ArrayList<>();
        for (int i = 0; i < 6; i++) {
            lines.add("{\"id\": " + i + ", \"text\": \"Prompt number " + i + " says\"}");
        }
        Files.write(in, lines);
        Path a = tmp.resolve("a.jsonl");
        Path b = tmp.resolve("b.jsonl");
        Path c = tmp.resolve("c.jsonl");
        String[] common = {
            "--model",
            model.toString(),
            "--input",
            in.toString(),
            "--max-new-tokens",
            "6",
            "--temperature",
            "0.8",
            "--top-p",
            "0.9",
            "--threads",
            "2"
        };
        assertEquals(
                0,
                run(concat(common, "generate", "--output", a.toString(), "--seed", "11", "--max-active", "4"))
                        .code());
        assertEquals(
                0,
                run(concat(common, "generate", "--output", b.toString(), "--seed", "11", "--max-active", "1"))
                        .code());
        assertEquals(
                0,
                run(concat(common, "generate", "--output", c.toString(), "--seed", "12", "--max-active", "4"))
                        .code());
        List<JsonNode> ra = lines(a);
        List<JsonNode> rb = lines(b);
        List<JsonNode> rc = lines(c);
        boolean differs = false;
        for (int i = 0; i < 6; i++) {
            assertEquals(ra.get(i).get("tokens"), rb.get(i).get("tokens"), "row " + i);
            differs |= !ra.get(i).get("tokens").equals(rc.get(i).get("tokens"));
        }
        assertTrue(differs, "another seed gives other samples");
        // --logprobs adds each generated token's log-probability; the tokens stay the same.
        Path e = tmp.resolve("e.jsonl");
        assertEquals(
                0,
                run(concat(common, "generate", "--output", e.toString(), "--seed", "11", "--logprobs"))
                        .code());
        List<JsonNode> re = lines(e);
        for (int i = 0; i < 6; i++) {
            assertEquals(ra.get(i).get("tokens"), re.get(i).get("tokens"), "row " + i);
            assertFalse(ra.get(i).has("token_logprobs"), "only with --logprobs");
            JsonNode lp = re.get(i).get("token_logprobs");
            assertEquals(re.get(i).get("tokens").size(), lp.size());
            for (JsonNode v : lp) {
                assertTrue(v.isNumber() && v.asDouble() <= 0 && v.asDouble() > -50, lp.toString());
            }
        }
        Run bad = run(
                concat(common, "generate", "--output", tmp.resolve("d.jsonl").toString(), "--top-p", "1.5"));
        assertEquals(2, bad.code());
        assertTrue(bad.err().contains("top-p 1.5 must be in (0, 1]"), bad.err());
        assertFalse(Files.exists(tmp.resolve("d.jsonl")));
    }

    @Test
    void truncateLeftKeepsThePromptsLastTokensWhereItWouldNotFit() throws Exception {
        Path in = tmp.resolve("long.jsonl");
        Files.write(in, List.of("{\"id\": 1, \"text\": \"The quick brown fox jumps over the lazy dog\"}"));
        // 2,048 positions: 2,044 new tokens leave room for a prompt of 4.
        String[] common = {"--model", model.toString(), "--input", in.toString(), "--max-new-tokens", "2044"};
        Run refused = run(concat(
                common, "generate", "--output", tmp.resolve("long-a.jsonl").toString()));
        assertEquals(1, refused.code(), refused.err());
        assertTrue(refused.err().contains(in + ":1: ") && refused.err().contains("context of 2048"), refused.err());
        Path out = tmp.resolve("long-b.jsonl");
        // Stop strings end the row soon: the prompt, not 2,044 tokens, is what this checks.
        Run kept = run(concat(
                common,
                "generate",
                "--output",
                out.toString(),
                "--truncate-left",
                "--stop",
                "a",
                "--stop",
                "e",
                "--stop",
                "o",
                "--stop",
                " ",
                "--stop",
                "."));
        assertEquals(0, kept.code(), kept.err());
        JsonNode row = lines(out).get(0);
        try (DecoderModel m = DecoderModel.load(model)) {
            int[] all = m.tokenize("The quick brown fox jumps over the lazy dog");
            assertEquals(
                    Arrays.toString(Arrays.copyOfRange(all, all.length - 4, all.length)),
                    Arrays.toString(ints(row.get("prompt_tokens"))));
        }
    }

    private static String[] concat(String[] common, String command, String... more) {
        List<String> all = new ArrayList<>();
        all.add(command);
        all.addAll(List.of(common));
        all.addAll(List.of(more));
        return all.toArray(new String[0]);
    }
}

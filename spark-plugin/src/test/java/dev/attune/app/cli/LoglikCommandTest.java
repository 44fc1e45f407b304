package dev.attune.app.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.attune.model.llama.RandomDecoderCheckpoint;
import dev.attune.model.llama.RandomDecoderCheckpoint.ModelType;
import dev.attune.testing.decoder.DecoderReference;
import dev.attune.testing.decoder.TestTokenizers;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code attune loglik} end to end, exactly its contract: one output line per input row in input
 * order with {@code id}, {@code tokens} (the tokenizers library's ids, special tokens included),
 * {@code token_logprobs} (null first, then natural-log probabilities matching the fp64
 * reference), {@code logprob} (their sum), {@code device} and {@code path}; the completion and
 * label-choice variants; and the refusals that keep files safe.
 */
class LoglikCommandTest {

    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    static Path tmp;

    private static Path model;

    @BeforeAll
    static void checkpoint() throws Exception {
        model = tmp.resolve("llama");
        RandomDecoderCheckpoint.builder(ModelType.LLAMA)
                .numHeads(4)
                .numKvHeads(2)
                .headDim(16)
                .initStd(0.3)
                .maxPositionEmbeddings(64)
                .build()
                .write(model, TestTokenizers.dir("llama2"));
    }

    private record Run(int code, String err) {}

    private static Run run(String... args) {
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        int code = AttuneCli.run(args, new PrintStream(buf, true, StandardCharsets.UTF_8));
        return new Run(code, buf.toString(StandardCharsets.UTF_8));
    }

    private static Path input(String name, String... lines) throws Exception {
        Path in = tmp.resolve(name);
        Files.write(in, List.of(lines));
        return in;
    }

    @Test
    void writesTheContractedFieldsInInputOrder() throws Exception {
        Path in = input(
                "in.jsonl",
                "{\"id\": 1, \"text\": \"Hello world, this is a longer sentence to score.\"}",
                "{\"id\": \"two\", \"text\": \"Short.\"}",
                "",
                "{\"id\": 3, \"text\": null}",
                "{\"id\": 4, \"text\": \"\"}");
        Path out = tmp.resolve("out.jsonl");
        Run r = run(
                "loglik",
                "--model",
                model.toString(),
                "--input",
                in.toString(),
                "--output",
                out.toString(),
                "--threads",
                "2",
                "--batch-size",
                "2");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.err().contains("prefill tokens/s"), r.err());
        List<String> lines = Files.readAllLines(out);
        assertEquals(4, lines.size());
        DecoderReference ref = DecoderReference.load(model);
        try (HuggingFaceTokenizer hf = HuggingFaceTokenizer.newInstance(model.resolve("tokenizer.json"))) {
            String[] texts = {"Hello world, this is a longer sentence to score.", "Short."};
            for (int i = 0; i < 2; i++) {
                JsonNode row = JSON.readTree(lines.get(i));
                assertEquals(
                        List.of("id", "tokens", "token_logprobs", "logprob", "device", "path"), iterableNames(row));
                int[] ids = Arrays.stream(hf.encode(texts[i]).getIds())
                        .mapToInt(Math::toIntExact)
                        .toArray();
                assertEquals(1, ids[0], "the Llama 2 tokenizer adds <s>");
                assertEquals(ids.length, row.get("tokens").size());
                for (int t = 0; t < ids.length; t++) {
                    assertEquals(ids[t], row.get("tokens").get(t).asInt());
                }
                double[] want = ref.tokenLogprobs(ids);
                JsonNode lp = row.get("token_logprobs");
                assertTrue(lp.get(0).isNull(), "the first token has no prediction");
                double sum = 0;
                for (int t = 1; t < ids.length; t++) {
                    assertEquals(want[t], lp.get(t).asDouble(), 1e-3, "token " + t);
                    sum += lp.get(t).asDouble();
                }
                assertEquals(sum, row.get("logprob").asDouble(), 1e-4);
                assertEquals("cpu", row.get("device").asText());
                assertEquals("cpu-flash", row.get("path").asText());
            }
        }
        assertEquals("two", JSON.readTree(lines.get(1)).get("id").asText());
        JsonNode nul = JSON.readTree(lines.get(2));
        assertEquals(3, nul.get("id").asInt());
        assertTrue(nul.get("tokens").isNull() && nul.get("logprob").isNull(), "a null text gives nulls");
        JsonNode empty = JSON.readTree(lines.get(3));
        assertEquals(1, empty.get("tokens").size(), "an empty text is <s> alone");
        assertEquals(0.0, empty.get("logprob").asDouble());
    }

    private static List<String> iterableNames(JsonNode n) {
        List<String> names = new java.util.ArrayList<>();
        n.fieldNames().forEachRemaining(names::add);
        return names;
    }

    @Test
    void completionsScoreOnlyTheCompletionAndChoicesPickALabel() throws Exception {
        Path in = input(
                "prompts.jsonl",
                "{\"id\": 1, \"q\": \"Question: is the sky blue? Answer:\", \"text\": \" yes\", "
                        + "\"labels\": [\" yes\", \" no\"]}");
        Path out = tmp.resolve("completion.jsonl");
        Run r = run(
                "loglik",
                "--model",
                model.toString(),
                "--input",
                in.toString(),
                "--output",
                out.toString(),
                "--prompt-field",
                "q",
                "--device",
                "simulate:T4");
        assertEquals(0, r.code(), r.err());
        JsonNode row = JSON.readTree(Files.readAllLines(out).get(0));
        JsonNode lp = row.get("token_logprobs");
        int nulls = 0;
        while (lp.get(nulls).isNull()) {
            nulls++;
        }
        assertTrue(nulls > 5, "the prompt's tokens are not scored: " + lp);
        assertEquals(lp.size() - nulls, 1, "one completion token scored: " + lp);
        assertEquals("flash-sm75", row.get("path").asText());
        assertTrue(row.get("device").asText().contains("T4"), row.toString());

        Path prompts = input(
                "choose.jsonl",
                "{\"id\": 9, \"text\": \"Question: is the sky blue? Answer:\", "
                        + "\"labels\": [\" yes\", \" no\", \" it depends on the weather\"]}");
        Path chosen = tmp.resolve("chosen.jsonl");
        r = run(
                "loglik",
                "--model",
                model.toString(),
                "--input",
                prompts.toString(),
                "--output",
                chosen.toString(),
                "--choices",
                "labels",
                "--length-normalize");
        assertEquals(0, r.code(), r.err());
        JsonNode c = JSON.readTree(Files.readAllLines(chosen).get(0));
        assertEquals(9, c.get("id").asInt());
        assertEquals(3, c.get("scores").size());
        int best = 0;
        for (int i = 1; i < 3; i++) {
            best = c.get("scores").get(i).asDouble() > c.get("scores").get(best).asDouble() ? i : best;
        }
        assertEquals(best, c.get("choice_index").asInt());
        assertEquals(
                List.of(" yes", " no", " it depends on the weather").get(best),
                c.get("choice").asText());
    }

    @Test
    void chatMessagePromptsAreRenderedByTheModelsTemplate() throws Exception {
        Path qwen = tmp.resolve("qwen3");
        RandomDecoderCheckpoint.builder(ModelType.QWEN3)
                .numHeads(4)
                .numKvHeads(2)
                .headDim(16)
                .vocabSize(151936)
                .bosTokenId(151643)
                .eosTokenIds(151645)
                .build()
                .write(qwen, TestTokenizers.dir("qwen3"));
        Path in = input(
                "chat.jsonl",
                "{\"id\": 1, \"text\": \"Paris.\", \"messages\": ["
                        + "{\"role\": \"system\", \"content\": \"Answer in one word.\"},"
                        + "{\"role\": \"user\", \"content\": \"Capital of France?\"}]}",
                "{\"id\": 2, \"text\": \"x\", \"messages\": [{\"role\": \"user\"}]}");
        Path out = tmp.resolve("chat-out.jsonl");
        Run r = run(
                "loglik",
                "--model",
                qwen.toString(),
                "--input",
                in.toString(),
                "--output",
                out.toString(),
                "--prompt-field",
                "messages");
        assertEquals(1, r.code(), "the second row's message has no content: " + r.err());
        assertTrue(r.err().contains("chat.jsonl:2") && r.err().contains("message 0"), r.err());
        assertFalse(Files.exists(out));

        Files.write(in, List.of(Files.readAllLines(in).get(0)));
        r = run(
                "loglik",
                "--model",
                qwen.toString(),
                "--input",
                in.toString(),
                "--output",
                out.toString(),
                "--prompt-field",
                "messages");
        assertEquals(0, r.code(), r.err());
        JsonNode row = JSON.readTree(Files.readAllLines(out).get(0));
        String prompt = dev.attune.model.prompt.ChatTemplate.load(qwen)
                .orElseThrow()
                .render(
                        List.of(
                                dev.attune.model.prompt.ChatMessage.system("Answer in one word."),
                                dev.attune.model.prompt.ChatMessage.user("Capital of France?")),
                        true);
        assertTrue(prompt.endsWith("<|im_start|>assistant\n"), prompt);
        try (HuggingFaceTokenizer hf = HuggingFaceTokenizer.newInstance(qwen.resolve("tokenizer.json"))) {
            long[] whole = hf.encode(prompt + "Paris.").getIds();
            int context = hf.encode(prompt).getIds().length;
            assertEquals(whole.length, row.get("tokens").size());
            assertEquals(151644, row.get("tokens").get(0).asInt(), "<|im_start|> is one special token");
            JsonNode lp = row.get("token_logprobs");
            for (int t = 0; t < whole.length; t++) {
                assertEquals(whole[t], row.get("tokens").get(t).asLong());
                assertEquals(t < context, lp.get(t).isNull(), "token " + t);
            }
        }
    }

    @Test
    void aNonFiniteScoreOrChoiceNamesTheRowAndWritesNothing() throws Exception {
        Path half =
                dev.attune.testing.ModelCopies.scaled(model, tmp.resolve("overflow-norm"), "model.norm.weight", 1e20f);
        Path broken = dev.attune.testing.ModelCopies.scaled(half, tmp.resolve("overflow"), "lm_head.weight", 1e20f);
        Path in = input("nonfinite.jsonl", "{\"id\": 1, \"text\": \"Is this good?\", \"labels\": [\"yes\", \"no\"]}");
        for (List<String> extra : List.of(List.<String>of(), List.of("--choices", "labels"))) {
            Path out = tmp.resolve("nonfinite-out.jsonl");
            List<String> args = new java.util.ArrayList<>(List.of(
                    "loglik", "--model", broken.toString(), "--input", in.toString(), "--output", out.toString()));
            args.addAll(extra);
            Run r = run(args.toArray(new String[0]));
            assertEquals(1, r.code(), r.err());
            assertTrue(r.err().contains("nonfinite.jsonl:1: model " + broken + " on path cpu-flash gave "), r.err());
            assertTrue(r.err().contains("(non-finite output); nothing is written"), r.err());
            assertFalse(Files.exists(out));
        }
    }

    @Test
    void refusesToOverwriteAndNamesBadRows() throws Exception {
        Path in = input("ok.jsonl", "{\"id\": 1, \"text\": \"fine\"}");
        Path existing = input("existing.jsonl", "keep me");
        Run r = run("loglik", "--model", model.toString(), "--input", in.toString(), "--output", existing.toString());
        assertEquals(2, r.code());
        assertTrue(r.err().contains("already exists"), r.err());
        assertEquals(List.of("keep me"), Files.readAllLines(existing));
        r = run(
                "loglik",
                "--model",
                model.toString(),
                "--input",
                in.toString(),
                "--output",
                in.toString(),
                "--overwrite");
        assertEquals(2, r.code());
        assertTrue(r.err().contains("is the input"), r.err());
        assertEquals(List.of("{\"id\": 1, \"text\": \"fine\"}"), Files.readAllLines(in));
        r = run(
                "loglik",
                "--model",
                model.toString(),
                "--input",
                in.toString(),
                "--output",
                existing.toString(),
                "--overwrite");
        assertEquals(0, r.code(), r.err());
        assertEquals(
                1, JSON.readTree(Files.readAllLines(existing).get(0)).get("id").asInt());
        Path probe = Files.createFile(tmp.resolve("probe"));
        assertEquals(
                java.nio.file.attribute.PosixFilePermissions.toString(Files.getPosixFilePermissions(probe)),
                java.nio.file.attribute.PosixFilePermissions.toString(Files.getPosixFilePermissions(existing)),
                "the output's mode follows the umask, as embed's does");
        try (var s = Files.list(tmp)) {
            assertTrue(s.noneMatch(p -> p.getFileName().toString().endsWith(".partial")), "no partial file left");
        }

        String longText = "word ".repeat(200);
        Path tooLong =
                input("long.jsonl", "{\"id\": 1, \"text\": \"ok\"}", "{\"id\": 2, \"text\": \"" + longText + "\"}");
        Path out = tmp.resolve("long-out.jsonl");
        r = run("loglik", "--model", model.toString(), "--input", tooLong.toString(), "--output", out.toString());
        assertEquals(1, r.code(), r.err());
        assertTrue(r.err().contains("long.jsonl:2") && r.err().contains("context of 64"), r.err());
        assertFalse(Files.exists(out), "no partial output");
        r = run(
                "loglik",
                "--model",
                model.toString(),
                "--input",
                tooLong.toString(),
                "--output",
                out.toString(),
                "--truncate-left");
        assertEquals(0, r.code(), r.err());
        assertEquals(
                64, JSON.readTree(Files.readAllLines(out).get(1)).get("tokens").size());

        Path bad = input("bad.jsonl", "{\"id\": 1, \"text\": \"ok\"}", "{\"id\": 2, \"text\": \"broken");
        r = run(
                "loglik",
                "--model",
                model.toString(),
                "--input",
                bad.toString(),
                "--output",
                tmp.resolve("bad-out.jsonl").toString());
        assertEquals(1, r.code());
        assertTrue(r.err().contains("bad.jsonl:2"), r.err());

        r = run(
                "loglik",
                "--model",
                tmp.resolve("missing").toString(),
                "--input",
                in.toString(),
                "--output",
                tmp.resolve("m-out.jsonl").toString());
        assertTrue(r.code() != 0 && r.err().contains("missing"), r.err());
    }
}

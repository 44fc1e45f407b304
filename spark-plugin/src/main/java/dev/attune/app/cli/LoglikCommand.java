package dev.attune.app.cli;

import com.fasterxml.jackson.core.JsonEncoding;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.attune.kernels.cpu.CpuThreads;
import dev.attune.kernels.device.DeviceInfo;
import dev.attune.kernels.select.UserOverrides;
import dev.attune.model.DecoderModel;
import dev.attune.runtime.DeviceRunner;
import dev.attune.task.LabelChoice;
import dev.attune.task.LogLikelihood;
import dev.attune.task.RowTooLongException;
import dev.attune.task.ScoreRequest;
import dev.attune.task.SequenceScore;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * {@code attune loglik}: log-likelihood of texts (or of completions given prompts, or the best of
 * candidate labels) under a decoder, JSON lines in and out, in input order. The output appears
 * only when every row succeeded (written to a temporary file in its directory and renamed); an
 * existing output is refused unless {@code --overwrite}, and one that is the input always, before
 * anything runs (see {@link OutputFile}).
 */
final class LoglikCommand {

    static final String USAGE = """
            attune loglik --model DIR --input IN.jsonl --output OUT.jsonl [--overwrite] [--device cpu|auto|simulate:NAME]
                          [--threads N] [--prompt-field F | --choices F [--length-normalize]]
                          [--batch-size N] [--max-tokens N] [--truncate-left] [--attention-path P]
                          [--exclude P,Q] [--dtype auto|fp32|fp16|bf16]
              DIR        a Hugging Face decoder directory (llama, mistral, qwen2, qwen3)
              IN.jsonl   one {"id": ..., "text": ...} object per line
              OUT.jsonl  one {"id", "tokens", "token_logprobs", "logprob", "device", "path"} per line:
                         the text's token ids (special tokens included), each token's natural-log
                         probability given those before it (null for the first and for prompt
                         tokens) and their sum
              --prompt-field F  score "text" as a completion of the prompt in field F: a string,
                                or chat messages [{"role", "content"}, ...] rendered by the
                                model's chat template with the assistant's turn opened
              --choices F       field F holds candidate labels for the prompt in "text": writes
                                {"id", "choice", "choice_index", "scores", "device", "path"}""";

    private static final int CHUNK_ROWS = 1024;

    private LoglikCommand() {}

    static int run(String[] args, PrintStream err) throws IOException {
        Set<String> valued = new HashSet<>(Set.of(
                "model",
                "input",
                "output",
                "batch-size",
                "max-tokens",
                "threads",
                "device",
                "prompt-field",
                "choices"));
        valued.addAll(OverrideOptions.NAMES);
        CliArgs a = new CliArgs("loglik", args, 1, valued, Set.of("truncate-left", "length-normalize", "overwrite"));
        UserOverrides overrides = OverrideOptions.parse(a);
        Path input = Path.of(a.require("input"));
        Path output = Path.of(a.require("output"));
        String modelSpec = a.require("model");
        int batch = a.positiveInt("batch-size", 16);
        int maxTokens = a.positiveInt("max-tokens", 4096);
        int threads = a.positiveInt("threads", Runtime.getRuntime().availableProcessors());
        String promptField = a.get("prompt-field", null);
        String choicesField = a.get("choices", null);
        if (promptField != null && choicesField != null) {
            throw new CliArgs.UsageException("loglik: --prompt-field and --choices exclude each other");
        }
        if (!Files.isRegularFile(input)) {
            throw new CliArgs.UsageException("loglik: input file '" + input + "' does not exist");
        }
        OutputFile.check("loglik", input, output, a.flag("overwrite"));
        DeviceInfo device = DecoderCli.device("loglik", a.get("device", "cpu"), err);
        Path dir = DecoderCli.decoderDirectory("loglik", modelSpec);

        long t0 = System.nanoTime();
        long rows = 0;
        long tokens = 0;
        String summary;
        try (OutputFile target = OutputFile.prepare("loglik", input, output, a.flag("overwrite"))) {
            try (DecoderModel model = DecoderModel.load(dir);
                    CpuThreads pool = new CpuThreads(threads);
                    java.io.InputStream in = new java.io.BufferedInputStream(Files.newInputStream(input), 1 << 16);
                    OutputStream os = new java.io.BufferedOutputStream(target.open(), 1 << 16);
                    JsonGenerator gen = new ObjectMapper().getFactory().createGenerator(os, JsonEncoding.UTF8)) {
                DeviceRunner runner = new DeviceRunner(device, overrides, 0.9);
                long loaded = System.nanoTime();
                err.printf(
                        "attune loglik: model %s (%s, %d layers, hidden %d, %d/%d heads, context %d) loaded in %.1f s, "
                                + "%d threads, device %s%n",
                        dir,
                        model.config().modelType(),
                        model.config().layers(),
                        model.config().hiddenSize(),
                        model.config().heads(),
                        model.config().kvHeads(),
                        model.config().maxPositions(),
                        (loaded - t0) / 1e9,
                        threads,
                        device.label());
                LogLikelihood scorer =
                        new LogLikelihood(model, runner, pool, batch, maxTokens, a.flag("truncate-left"));
                Map<String, Long> perPath = new TreeMap<>();
                long[] prefilled = {0}; // tokens prefilled so far
                LogLikelihood.Listener listener = (r, t, choice, nanos) -> {
                    prefilled[0] += t;
                    perPath.merge(choice.path().id() + " " + choice.dtype().id(), (long) r, Long::sum);
                };
                JsonlInput reader = new JsonlInput(in, input.toString());
                gen.setRootValueSeparator(null);
                List<JsonlInput.Row> chunk;
                while (!(chunk = reader.next(CHUNK_ROWS)).isEmpty()) {
                    try {
                        if (choicesField != null) {
                            writeChoices(
                                    gen,
                                    chunk,
                                    choices(chunk, choicesField, input.toString()),
                                    scorer,
                                    a.flag("length-normalize"),
                                    listener,
                                    input.toString(),
                                    dir);
                        } else {
                            List<ScoreRequest> req = new ArrayList<>(chunk.size());
                            for (JsonlInput.Row r : chunk) {
                                req.add(new ScoreRequest(
                                        promptField == null
                                                ? null
                                                : DecoderCli.prompt(model, r, promptField, input.toString()),
                                        r.text()));
                            }
                            writeScores(gen, chunk, scorer.score(req, listener), input.toString(), dir);
                        }
                    } catch (RowTooLongException e) {
                        throw new JsonlInput.InputException(input + ":"
                                + chunk.get(e.row()).line() + ": "
                                + e.getMessage().replaceFirst("^row \\d+: ", "")
                                + "; --truncate-left keeps the last tokens");
                    }
                    rows += chunk.size();
                    double secs = (System.nanoTime() - loaded) / 1e9;
                    err.printf(
                            "attune loglik: %d rows, %d tokens in %.1f s (%.1f tokens/s)%n",
                            rows, prefilled[0], secs, prefilled[0] / secs);
                }
                gen.flush();
                tokens = prefilled[0];
                double secs = (System.nanoTime() - loaded) / 1e9;
                summary = String.format(
                        "attune loglik: %d rows (%d tokens) in %.2f s (%.1f prefill tokens/s) -> %s; rows per path: %s%s%s",
                        rows,
                        tokens,
                        secs,
                        tokens / secs,
                        output,
                        perPath,
                        runner.precisionFallbacks() > 0
                                ? "; " + runner.precisionFallbacks() + " batches re-run in fp32 after fp16 overflow"
                                : "",
                        reader.notes());
            }
            target.commit();
        }
        err.println(summary);
        return 0;
    }

    private static void writeScores(
            JsonGenerator gen, List<JsonlInput.Row> chunk, SequenceScore[] scores, String source, Path model)
            throws IOException {
        for (int i = 0; i < chunk.size(); i++) {
            SequenceScore s = scores[i];
            gen.writeStartObject();
            gen.writeFieldName("id");
            gen.writeTree(chunk.get(i).id());
            if (s == null) {
                gen.writeNullField("tokens");
                gen.writeNullField("token_logprobs");
                gen.writeNullField("logprob");
                gen.writeNullField("device");
                gen.writeNullField("path");
            } else {
                if (!Double.isFinite(s.logprob())) {
                    throw new JsonlInput.InputException(
                            source + ":" + chunk.get(i).line() + ": model " + model
                                    + " on path " + s.path() + " gave a log-probability of " + s.logprob()
                                    + " (non-finite output); nothing is written");
                }
                gen.writeArrayFieldStart("tokens");
                for (int t : s.tokens()) {
                    gen.writeNumber(t);
                }
                gen.writeEndArray();
                gen.writeArrayFieldStart("token_logprobs");
                for (float lp : s.tokenLogprobs()) {
                    if (Float.isNaN(lp)) {
                        gen.writeNull();
                    } else {
                        gen.writeNumber(lp);
                    }
                }
                gen.writeEndArray();
                gen.writeNumberField("logprob", s.logprob());
                gen.writeStringField("device", s.device());
                gen.writeStringField("path", s.path());
            }
            gen.writeEndObject();
            gen.writeRaw('\n');
        }
    }

    private static List<LabelChoice.Request> choices(List<JsonlInput.Row> chunk, String field, String source) {
        List<LabelChoice.Request> out = new ArrayList<>(chunk.size());
        for (JsonlInput.Row r : chunk) {
            JsonNode c = r.object().get(field);
            if (c == null || !(c.isArray() || c.isNull())) {
                throw new JsonlInput.InputException(
                        source + ":" + r.line() + ": \"" + field + "\" must be an array of candidate strings"
                                + (c == null ? " (missing)" : ", got " + c.getNodeType()));
            }
            List<String> labels = null;
            if (c.isArray()) {
                labels = new ArrayList<>();
                for (JsonNode l : c) {
                    if (!l.isTextual()) {
                        throw new JsonlInput.InputException(source + ":" + r.line() + ": \"" + field + "\" holds a "
                                + l.getNodeType() + "; candidates must be strings");
                    }
                    labels.add(l.asText());
                }
            }
            out.add(new LabelChoice.Request(r.text(), labels));
        }
        return out;
    }

    private static void writeChoices(
            JsonGenerator gen,
            List<JsonlInput.Row> chunk,
            List<LabelChoice.Request> req,
            LogLikelihood scorer,
            boolean normalize,
            LogLikelihood.Listener listener,
            String source,
            Path model)
            throws IOException {
        LabelChoice.Choice[] choices;
        try {
            choices = new LabelChoice(scorer, normalize).choose(req, listener);
        } catch (IllegalArgumentException e) {
            if (e instanceof RowTooLongException) {
                throw e;
            }
            throw new JsonlInput.InputException(e.getMessage());
        }
        for (int i = 0; i < chunk.size(); i++) {
            LabelChoice.Choice c = choices[i];
            gen.writeStartObject();
            gen.writeFieldName("id");
            gen.writeTree(chunk.get(i).id());
            if (c == null) {
                gen.writeNullField("choice");
                gen.writeNullField("choice_index");
                gen.writeNullField("scores");
            } else {
                for (int k = 0; k < c.scores().length; k++) {
                    if (!Double.isFinite(c.scores()[k])) {
                        throw new JsonlInput.InputException(
                                source + ":" + chunk.get(i).line() + ": model " + model
                                        + " on path " + c.path() + " gave candidate " + k + " a log-probability of "
                                        + c.scores()[k] + " (non-finite output); nothing is written");
                    }
                }
                gen.writeStringField("choice", c.label());
                gen.writeNumberField("choice_index", c.index());
                gen.writeArrayFieldStart("scores");
                for (double s : c.scores()) {
                    gen.writeNumber(s);
                }
                gen.writeEndArray();
                gen.writeStringField("device", c.device());
                gen.writeStringField("path", c.path());
            }
            gen.writeEndObject();
            gen.writeRaw('\n');
        }
    }
}

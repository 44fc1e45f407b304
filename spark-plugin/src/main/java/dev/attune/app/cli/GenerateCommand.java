package dev.attune.app.cli;

import com.fasterxml.jackson.core.JsonEncoding;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.attune.kernels.cpu.CpuThreads;
import dev.attune.kernels.device.DeviceInfo;
import dev.attune.kernels.select.UserOverrides;
import dev.attune.model.DecoderModel;
import dev.attune.runtime.DeviceRunner;
import dev.attune.task.RowTooLongException;
import dev.attune.task.generate.GeneratedText;
import dev.attune.task.generate.GenerationRequest;
import dev.attune.task.generate.NonFiniteLogitsException;
import dev.attune.task.generate.SamplingParams;
import dev.attune.task.generate.TextGeneration;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * {@code attune generate}: text generation with a decoder LLM over a JSONL file, rows batched
 * continuously over a paged KV cache on the chosen device (the CPU, or a simulated GPU in its
 * precision), one output line per input line in input order. A row's sampled tokens depend only
 * on {@code --seed} and its id, so a re-run reproduces every row. The output appears, under its
 * name, only when every row succeeded.
 */
final class GenerateCommand {

    static final String USAGE = """
            attune generate --model DIR --input IN.jsonl --output OUT.jsonl [--overwrite] [--device cpu|auto|simulate:NAME]
                            [--threads N] [--max-new-tokens N] [--temperature T] [--top-p P] [--top-k K]
                            [--min-p P] [--repetition-penalty R] [--seed S] [--stop STR]... [--max-active N]
                            [--logprobs] [--truncate-left]
              IN.jsonl   one {"id", "text"} or {"id", "messages": [{"role", "content"}, ...]} per line
                         (messages are rendered by the model's chat template, the assistant's turn opened)
              OUT.jsonl  one {"id", "prompt_tokens", "tokens", "text", "finish_reason", "device", "path"}
                         per line: the prompt's ids (special tokens included), the generated ids, their
                         text (up to a stop string), "stop" or "length"; with --logprobs also
                         "token_logprobs": each generated token's log-probability under the model
              --truncate-left  a prompt with no room for --max-new-tokens in the context keeps its last
                         tokens (otherwise the run stops naming its line)
              --temperature 0 (the default) is greedy; --seed with each row's id seeds its samples""";

    private static final int CHUNK_ROWS = 256;

    private GenerateCommand() {}

    static int run(String[] args, PrintStream err) throws IOException {
        Set<String> valued = new HashSet<>(Set.of(
                "model",
                "input",
                "output",
                "threads",
                "device",
                "max-new-tokens",
                "temperature",
                "top-p",
                "top-k",
                "min-p",
                "repetition-penalty",
                "seed",
                "stop",
                "max-active",
                "max-tokens"));
        valued.addAll(OverrideOptions.NAMES);
        CliArgs a = new CliArgs("generate", args, 1, valued, Set.of("overwrite", "logprobs", "truncate-left"));
        UserOverrides overrides = OverrideOptions.parse(a);
        Path input = Path.of(a.require("input"));
        Path output = Path.of(a.require("output"));
        String modelSpec = a.require("model");
        int threads = a.positiveInt("threads", Runtime.getRuntime().availableProcessors());
        int maxActive = a.positiveInt("max-active", 16);
        int passTokens = a.positiveInt("max-tokens", 512);
        SamplingParams params;
        try {
            params = new SamplingParams(
                    number(a, "temperature", 0),
                    (int) number(a, "top-k", 0),
                    number(a, "top-p", 1),
                    number(a, "min-p", 0),
                    number(a, "repetition-penalty", 1),
                    0,
                    a.positiveInt("max-new-tokens", 64),
                    a.all("stop"),
                    (long) number(a, "seed", 0));
        } catch (IllegalArgumentException e) {
            throw new CliArgs.UsageException("generate: " + e.getMessage());
        }
        if (!Files.isRegularFile(input)) {
            throw new CliArgs.UsageException("generate: input file '" + input + "' does not exist");
        }
        OutputFile.check("generate", input, output, a.flag("overwrite"));
        DeviceInfo device = DecoderCli.device("generate", a.get("device", "cpu"), err);
        Path dir = DecoderCli.decoderDirectory("generate", modelSpec);
        long t0 = System.nanoTime();
        String summary;
        try (OutputFile target = OutputFile.prepare("generate", input, output, a.flag("overwrite"));
                DecoderModel model = DecoderModel.load(dir);
                CpuThreads pool = new CpuThreads(threads);
                java.io.InputStream in = new java.io.BufferedInputStream(Files.newInputStream(input), 1 << 16);
                OutputStream os = new java.io.BufferedOutputStream(target.open(), 1 << 16);
                JsonGenerator gen = new ObjectMapper().getFactory().createGenerator(os, JsonEncoding.UTF8)) {
            DeviceRunner runner = new DeviceRunner(device, overrides, 0.9);
            long loaded = System.nanoTime();
            err.printf(
                    "attune generate: model %s (%s, %d layers) loaded in %.1f s, %d threads, device %s%n",
                    dir,
                    model.config().modelType(),
                    model.config().layers(),
                    (loaded - t0) / 1e9,
                    threads,
                    device.label());
            TextGeneration generation = new TextGeneration(model, runner, pool, maxActive, passTokens);
            JsonlInput reader = new JsonlInput(in, input.toString(), "messages");
            gen.setRootValueSeparator(null);
            Map<String, Long> perPath = new TreeMap<>();
            long rows = 0;
            long generated = 0;
            List<JsonlInput.Row> chunk;
            while (!(chunk = reader.next(CHUNK_ROWS)).isEmpty()) {
                List<GenerationRequest> req = new ArrayList<>(chunk.size());
                for (JsonlInput.Row r : chunk) {
                    String prompt = r.object().has("messages")
                            ? DecoderCli.prompt(model, r, "messages", input.toString())
                            : r.text();
                    int[] ids = model.tokenize(prompt == null ? "" : prompt);
                    int room = model.config().maxPositions() - params.maxNewTokens();
                    if (a.flag("truncate-left") && ids.length > room && room > 0) {
                        ids = Arrays.copyOfRange(ids, ids.length - room, ids.length); // the last tokens
                    }
                    if (ids.length == 0) {
                        throw new JsonlInput.InputException(input + ":" + r.line() + ": the prompt is empty and the"
                                + " tokenizer adds no token to start from");
                    }
                    // The id's value as the Spark entry points see it ("two", not "\"two\""), so a
                    // row samples the same tokens from the CLI and from the scoring job.
                    String key = r.id().isTextual() ? r.id().asText() : r.id().toString();
                    req.add(new GenerationRequest(ids, params, key));
                }
                TextGeneration.Result result;
                try {
                    result = generation.generate(req);
                } catch (RowTooLongException e) {
                    throw new JsonlInput.InputException(input + ":"
                            + chunk.get(e.row()).line() + ": " + e.getMessage().replaceFirst("^row \\d+: ", ""));
                } catch (NonFiniteLogitsException e) {
                    throw new JsonlInput.InputException(
                            input + ":" + chunk.get(e.row()).line() + ": model " + dir + ": "
                                    + e.getMessage().replaceFirst("^row \\d+: ", "") + "; nothing is written");
                }
                String deviceLabel = device.label();
                String path = result.choice().path().id(); // as loglik's "path": the attention path
                for (int i = 0; i < chunk.size(); i++) {
                    GeneratedText g = result.rows().get(i);
                    write(gen, chunk.get(i), g, deviceLabel, path, a.flag("logprobs"));
                    generated += g.tokens().length;
                }
                perPath.merge(path + " " + result.choice().dtype().id(), (long) chunk.size(), Long::sum);
                rows += chunk.size();
                double secs = (System.nanoTime() - loaded) / 1e9;
                err.printf(
                        "attune generate: %d rows, %d tokens generated in %.1f s (%.1f tokens/s)%n",
                        rows, generated, secs, generated / secs);
            }
            gen.close();
            double secs = (System.nanoTime() - loaded) / 1e9;
            summary = String.format(
                    "attune generate: %d rows (%d tokens generated) in %.2f s (%.1f tokens/s) -> %s; rows per path: %s%s",
                    rows, generated, secs, generated / secs, output, perPath, reader.notes());
            target.commit();
        }
        err.println(summary);
        return 0;
    }

    private static double number(CliArgs a, String name, double fallback) {
        String v = a.get(name, null);
        if (v == null) {
            return fallback;
        }
        try {
            return Double.parseDouble(v);
        } catch (NumberFormatException e) {
            throw new CliArgs.UsageException("generate: --" + name + " '" + v + "' is not a number");
        }
    }

    private static void write(
            JsonGenerator gen, JsonlInput.Row row, GeneratedText g, String device, String path, boolean logprobs)
            throws IOException {
        gen.writeStartObject();
        gen.writeFieldName("id");
        gen.writeTree(row.id());
        gen.writeArrayFieldStart("prompt_tokens");
        for (int t : g.promptIds()) {
            gen.writeNumber(t);
        }
        gen.writeEndArray();
        gen.writeArrayFieldStart("tokens");
        for (int t : g.tokens()) {
            gen.writeNumber(t);
        }
        gen.writeEndArray();
        if (logprobs) {
            gen.writeArrayFieldStart("token_logprobs");
            for (float lp : g.logprobs()) {
                gen.writeNumber(lp);
            }
            gen.writeEndArray();
        }
        gen.writeStringField("text", g.text());
        gen.writeStringField("finish_reason", g.finishReason());
        gen.writeStringField("device", device);
        gen.writeStringField("path", path);
        gen.writeEndObject();
        gen.writeRaw('\n');
    }
}

package dev.attune.app.cli;

import com.fasterxml.jackson.core.JsonEncoding;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.attune.kernels.attention.MaskKind;
import dev.attune.kernels.cpu.CpuThreads;
import dev.attune.kernels.device.DeviceInfo;
import dev.attune.kernels.select.AttentionChoice;
import dev.attune.kernels.select.UserOverrides;
import dev.attune.model.EncoderModel;
import dev.attune.model.io.ModelLocator;
import dev.attune.runtime.BatchRunner;
import dev.attune.runtime.DeviceRunner;
import dev.attune.runtime.GpuRunners;
import dev.attune.runtime.RunnerCounters;
import dev.attune.task.EncoderScoring;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * {@code attune embed}: JSON lines of {@code {"id", "text"}} in, {@code {"id", "embedding"}} out,
 * in input order. The output file appears only when every row succeeded (it is written to a
 * temporary file in its directory and renamed), so a failed run never leaves a partial file behind;
 * an existing output is refused unless {@code --overwrite}, and an output that is the input always
 * (see {@link OutputFile}).
 */
final class EmbedCommand {

    static final String USAGE = """
            attune embed --input IN.jsonl --output OUT.jsonl [--overwrite] [--model MODEL] [--batch-size N]
                         [--max-tokens N] [--threads N] [--device cpu|auto|simulate:NAME]
                         [--attention-path P] [--exclude P,Q] [--dtype auto|fp32|fp16|bf16]
              MODEL      a Hugging Face model directory, a Hadoop URI (hdfs:, s3a:, ...) or
                         builtin:all-MiniLM-L6-v2 (default), builtin:bge-small-en-v1.5
              IN.jsonl   one {"id": ..., "text": ...} object per line
              OUT.jsonl  one {"id", "embedding", "path", "device"} object per line, in input
                         order; a null text gives "embedding": null and "path": null
              --device   cpu (default), auto (probe GPUs), or simulate:T4, simulate:A100, ...:
                         a simulated GPU's path and precision, computed on the CPU
              --max-tokens N  tokens per batch, all rows together (default 16384); it does not
                         truncate texts: a text longer than the model's max_seq_length (256 tokens
                         for all-MiniLM-L6-v2, 512 for bge-small-en-v1.5) is cut there""";

    private static final int CHUNK_ROWS = 4096;

    private EmbedCommand() {}

    static int run(String[] args, PrintStream err) throws IOException {
        Set<String> valued = new java.util.HashSet<>(
                Set.of("model", "input", "output", "batch-size", "max-tokens", "threads", "device"));
        valued.addAll(OverrideOptions.NAMES);
        CliArgs a = new CliArgs("embed", args, 1, valued, Set.of("overwrite"));
        UserOverrides overrides = OverrideOptions.parse(a);
        String modelSpec = a.get("model", "builtin:all-MiniLM-L6-v2");
        Path input = Path.of(a.require("input"));
        Path output = Path.of(a.require("output"));
        int batch = a.positiveInt("batch-size", 32);
        int maxTokens = a.positiveInt("max-tokens", 16384);
        int threads = a.positiveInt("threads", Runtime.getRuntime().availableProcessors());
        if (!Files.isRegularFile(input)) {
            throw new CliArgs.UsageException("embed: input file '" + input + "' does not exist");
        }
        long rows = 0;
        String summary;
        // Refuse the output before the model loads; the temporary file goes if anything below fails.
        try (OutputFile target = OutputFile.prepare("embed", input, output, a.flag("overwrite"))) {
            DeviceInfo device = DeviceOption.resolve(a.get("device", "cpu"), err);
            long t0 = System.nanoTime();
            Path dir = ModelLocator.resolve(modelSpec);
            try (EncoderModel model = EncoderModel.load(dir);
                    CpuThreads pool = new CpuThreads(threads);
                    BatchRunner runner = runnerFor(device, overrides, err);
                    java.io.InputStream in = new java.io.BufferedInputStream(Files.newInputStream(input), 1 << 16);
                    OutputStream os = new java.io.BufferedOutputStream(target.open(), 1 << 16);
                    JsonGenerator gen = new ObjectMapper().getFactory().createGenerator(os, JsonEncoding.UTF8)) {
                long loaded = System.nanoTime();
                err.printf(
                        "attune embed: model %s (%d layers, hidden %d, max %d tokens) loaded in %.1f s, %d threads%n",
                        modelSpec,
                        model.config().layers(),
                        model.dimension(),
                        model.maxLength(),
                        (loaded - t0) / 1e9,
                        threads);
                // Fail before reading any row if the device cannot run what was forced.
                AttentionChoice planned = runner.choose(model, batch, model.maxLength(), MaskKind.PADDING);
                err.printf("attune embed: device %s: %s%n", device.label(), planned);
                Map<String, Long> perPath = new java.util.TreeMap<>();
                Progress progress = new Progress(err, loaded);
                JsonlInput reader = new JsonlInput(in, input.toString());
                gen.setRootValueSeparator(null);
                List<JsonlInput.Row> chunk;
                while (!(chunk = reader.next(CHUNK_ROWS)).isEmpty()) {
                    List<String> texts = new ArrayList<>(chunk.size());
                    chunk.forEach(r -> texts.add(r.text()));
                    EncoderScoring.Embedding[] vectors =
                            EncoderScoring.embed(model, texts, 0, batch, maxTokens, runner, pool, progress);
                    for (int i = 0; i < chunk.size(); i++) {
                        EncoderScoring.Embedding e = vectors[i];
                        String bad = EncoderScoring.nonFinite(e.vector(), modelSpec, e.path());
                        if (bad != null) {
                            throw new JsonlInput.InputException(
                                    input + ":" + chunk.get(i).line() + ": " + bad + "; nothing is written");
                        }
                        gen.writeStartObject();
                        gen.writeFieldName("id");
                        gen.writeTree(chunk.get(i).id());
                        gen.writeFieldName("embedding");
                        if (e.vector() == null) {
                            gen.writeNull();
                        } else {
                            gen.writeStartArray();
                            for (float v : e.vector()) {
                                gen.writeNumber(v);
                            }
                            gen.writeEndArray();
                        }
                        gen.writeStringField("path", e.path());
                        gen.writeStringField("device", device.label());
                        gen.writeEndObject();
                        gen.writeRaw('\n');
                        if (e.path() != null) {
                            perPath.merge(e.path() + " " + e.dtype(), 1L, Long::sum);
                        }
                    }
                    rows += chunk.size();
                }
                gen.flush();
                double secs = (System.nanoTime() - loaded) / 1e9;
                summary = String.format(
                        "attune embed: %d rows in %.2f s (%.1f rows/s) -> %s; rows per path: %s%s%s",
                        rows, secs, rows / secs, output, perPath, describe(runner.counters()), reader.notes());
            }
            target.commit();
        }
        err.println(summary);
        return 0;
    }

    /**
     * Rows done and rows/s on stderr, at most every {@link #EVERY_NANOS} while batches finish, so a
     * long run is not silent. Called by the thread running the batches.
     */
    private static final class Progress implements EncoderScoring.BatchListener {
        static final long EVERY_NANOS = 5_000_000_000L;
        private final PrintStream err;
        private final long start;
        private long rows;
        private long lastPrint;

        Progress(PrintStream err, long start) {
            this.err = err;
            this.start = start;
            this.lastPrint = start;
        }

        @Override
        public synchronized void batch(int batchRows, int tokens, String path, long nanos, boolean fallback) {
            rows += batchRows;
            long now = System.nanoTime();
            if (now - lastPrint >= EVERY_NANOS) {
                lastPrint = now;
                double secs = (now - start) / 1e9;
                err.printf("attune embed: %d rows done in %.0f s (%.1f rows/s)%n", rows, secs, rows / secs);
            }
        }
    }

    /** A real GPU runs on the CUDA backend (or, when it cannot, the CPU with the reason); others here. */
    private static BatchRunner runnerFor(DeviceInfo device, UserOverrides overrides, PrintStream err) {
        if (device.isGpu() && !device.simulated()) {
            GpuRunners.Served served = GpuRunners.serve(device, overrides, 0.9);
            if (!served.note().equals(GpuRunners.CUDA)) {
                err.printf("attune embed: %s: %s%n", device.label(), served.note());
            }
            return served.runner();
        }
        return new DeviceRunner(device, overrides, 0.9);
    }

    private static String describe(RunnerCounters c) {
        StringBuilder s = new StringBuilder();
        if (c.precisionFallbacks() > 0) {
            s.append("; ").append(c.precisionFallbacks()).append(" batches re-run in fp32 after fp16 overflow");
        }
        if (c.oomSplits() > 0) {
            s.append("; ").append(c.oomSplits()).append(" batches split after running out of GPU memory");
        }
        if (c.pathFallbacks() > 0) {
            s.append("; ").append(c.pathFallbacks()).append(" batches re-run on another path after a kernel failure");
        }
        return s.toString();
    }
}

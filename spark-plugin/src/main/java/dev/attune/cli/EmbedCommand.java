package dev.attune.cli;

import com.fasterxml.jackson.core.JsonEncoding;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.attune.kernels.attention.AttentionKernel;
import dev.attune.kernels.attention.CpuFlashAttention;
import dev.attune.kernels.cpu.CpuThreads;
import dev.attune.model.EncoderModel;
import dev.attune.model.io.ModelLocator;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * {@code attune embed}: JSON lines of {@code {"id", "text"}} in, {@code {"id", "embedding"}} out,
 * in input order. The output file appears only when every row succeeded (it is written to a
 * temporary file and renamed), so a failed run never leaves a partial file behind.
 */
final class EmbedCommand {

    static final String USAGE = """
            attune embed --input IN.jsonl --output OUT.jsonl [--model MODEL] [--batch-size N]
                         [--max-tokens N] [--threads N]
              MODEL      a Hugging Face model directory, a Hadoop URI (hdfs:, s3a:, ...) or
                         builtin:all-MiniLM-L6-v2 (default), builtin:bge-small-en-v1.5
              IN.jsonl   one {"id": ..., "text": ...} object per line
              OUT.jsonl  one {"id": ..., "embedding": [...]} object per line, in input order;
                         a null text gives "embedding": null""";

    private static final int CHUNK_ROWS = 4096;

    private EmbedCommand() {
    }

    static int run(String[] args, PrintStream err) throws IOException {
        CliArgs a = new CliArgs("embed", args, 1, Set.of("model", "input", "output", "batch-size", "max-tokens",
                "threads"), Set.of());
        String modelSpec = a.get("model", "builtin:all-MiniLM-L6-v2");
        Path input = Path.of(a.require("input"));
        Path output = Path.of(a.require("output"));
        int batch = a.positiveInt("batch-size", 32);
        int maxTokens = a.positiveInt("max-tokens", 16384);
        int threads = a.positiveInt("threads", Runtime.getRuntime().availableProcessors());
        if (!Files.isRegularFile(input)) {
            throw new CliArgs.UsageException("embed: input file '" + input + "' does not exist");
        }

        long t0 = System.nanoTime();
        Path dir = ModelLocator.resolve(modelSpec);
        long rows = 0;
        Path tmp = Files.createTempFile(output.toAbsolutePath().getParent(), output.getFileName() + ".", ".partial");
        try (EncoderModel model = EncoderModel.load(dir);
             CpuThreads pool = new CpuThreads(threads);
             BufferedReader in = Files.newBufferedReader(input, StandardCharsets.UTF_8);
             OutputStream os = new java.io.BufferedOutputStream(Files.newOutputStream(tmp), 1 << 16);
             JsonGenerator gen = new ObjectMapper().getFactory().createGenerator(os, JsonEncoding.UTF8)) {
            long loaded = System.nanoTime();
            err.printf("attune embed: model %s (%d layers, hidden %d, max %d tokens) loaded in %.1f s, %d threads%n",
                    modelSpec, model.config().layers(), model.dimension(), model.maxLength(),
                    (loaded - t0) / 1e9, threads);
            AttentionKernel attention = new CpuFlashAttention();
            JsonlInput reader = new JsonlInput(in, input.toString());
            gen.setRootValueSeparator(null);
            List<JsonlInput.Row> chunk;
            while (!(chunk = reader.next(CHUNK_ROWS)).isEmpty()) {
                List<String> texts = new ArrayList<>(chunk.size());
                chunk.forEach(r -> texts.add(r.text()));
                float[][] vectors = model.embed(texts, batch, maxTokens, attention, pool);
                for (int i = 0; i < chunk.size(); i++) {
                    gen.writeStartObject();
                    gen.writeFieldName("id");
                    gen.writeTree(chunk.get(i).id());
                    gen.writeFieldName("embedding");
                    if (vectors[i] == null) {
                        gen.writeNull();
                    } else {
                        gen.writeStartArray();
                        for (float v : vectors[i]) {
                            gen.writeNumber(v);
                        }
                        gen.writeEndArray();
                    }
                    gen.writeEndObject();
                    gen.writeRaw('\n');
                }
                rows += chunk.size();
            }
            gen.flush();
            double secs = (System.nanoTime() - loaded) / 1e9;
            err.printf("attune embed: %d rows in %.2f s (%.1f rows/s) -> %s%n", rows, secs, rows / secs, output);
        } catch (IOException | RuntimeException e) {
            Files.deleteIfExists(tmp);
            throw e;
        }
        Files.move(tmp, output, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        return 0;
    }
}

package dev.attune.examples.bench;

import ai.djl.huggingface.tokenizers.Encoding;
import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.attune.kernels.attention.AttentionKernel;
import dev.attune.kernels.attention.CpuFlashAttention;
import dev.attune.kernels.attention.CpuMathAttention;
import dev.attune.kernels.cpu.CpuGemm;
import dev.attune.kernels.cpu.CpuThreads;
import dev.attune.model.EncoderModel;
import dev.attune.model.builtin.BuiltinModel;
import dev.attune.model.builtin.BuiltinModels;
import dev.attune.task.EncoderScoring;
import java.io.BufferedReader;
import java.io.InputStream;
import java.nio.LongBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.stream.IntStream;

/**
 * Rows per second of sentence embedding on the CPU: Attune's encoder next to ONNX Runtime Java
 * with the Hugging Face tokenizers, on the same model, texts, thread count, batch size and
 * length-sorted batching, in one JVM. Each side tokenizes, runs the model and pools; each is run
 * {@code --repeat} times after a warm-up and its best time is kept. The two sides' vectors are
 * compared, so a fast wrong answer cannot pass as a result.
 *
 * <pre>bin/attune bench cpu-embed --input examples/data/sample.jsonl --threads 2</pre>
 */
public final class CpuEmbeddingBenchmark {

    private CpuEmbeddingBenchmark() {}

    public static int run(Map<String, String> opts) throws Exception {
        BuiltinModel builtin = BuiltinModel.find(opts.getOrDefault("model", "builtin:all-MiniLM-L6-v2"))
                .orElseThrow(() -> new IllegalArgumentException(
                        "cpu-embed compares built-in models only (ONNX Runtime needs their ONNX file)"));
        Path input = Path.of(opts.getOrDefault("input", "examples/data/sample.jsonl"));
        int threads = Integer.parseInt(
                opts.getOrDefault("threads", String.valueOf(Runtime.getRuntime().availableProcessors())));
        int batch = Integer.parseInt(opts.getOrDefault("batch-size", "32"));
        int repeat = Integer.parseInt(opts.getOrDefault("repeat", "2"));
        int limit = Integer.parseInt(opts.getOrDefault("rows", String.valueOf(Integer.MAX_VALUE)));
        List<String> texts = readTexts(input, limit);

        try (EncoderModel model = EncoderModel.load(BuiltinModels.resolve(builtin.uri()));
                CpuThreads pool = new CpuThreads(threads);
                OrtSession ort = session(builtin, threads);
                HuggingFaceTokenizer hf = HuggingFaceTokenizer.builder()
                        .optTokenizerPath(model.directory().resolve("tokenizer.json"))
                        .optMaxLength(model.maxLength())
                        .optTruncation(true)
                        .optPadding(true)
                        .build()) {
            long tokens = texts.stream()
                    .mapToLong(t -> model.tokenizer().encode(t).length())
                    .sum();
            System.out.printf(
                    "model %s, %d texts, %d tokens (mean %.1f, max %d), %d threads, batch %d, GEMM kernel %s%n",
                    builtin.uri(),
                    texts.size(),
                    tokens,
                    tokens / (double) texts.size(),
                    model.maxLength(),
                    threads,
                    batch,
                    CpuGemm.kernelName());
            List<String> warm = texts.subList(0, Math.min(200, texts.size()));
            AttentionKernel flash = new CpuFlashAttention();
            AttentionKernel math = new CpuMathAttention();
            EncoderScoring.embed(model, warm, batch, Integer.MAX_VALUE, flash, pool);
            EncoderScoring.embed(model, warm, batch, Integer.MAX_VALUE, math, pool);
            onnxEmbed(ort, hf, warm, batch, builtin);

            float[][][] attuneOut = new float[1][][];
            float[][][] ortOut = new float[1][][];
            double flashS = best(
                    repeat,
                    () -> attuneOut[0] = EncoderScoring.embed(model, texts, batch, Integer.MAX_VALUE, flash, pool));
            double mathS = best(repeat, () -> EncoderScoring.embed(model, texts, batch, Integer.MAX_VALUE, math, pool));
            double ortS = best(repeat, () -> ortOut[0] = onnxEmbed(ort, hf, texts, batch, builtin));
            double maxDiff = 0;
            for (int i = 0; i < texts.size(); i++) {
                for (int c = 0; c < attuneOut[0][i].length; c++) {
                    maxDiff = Math.max(maxDiff, Math.abs(attuneOut[0][i][c] - ortOut[0][i][c]));
                }
            }
            System.out.println();
            System.out.println("| engine | attention | seconds | rows/s | tokens/s | vs ONNX Runtime |");
            System.out.println("|---|---|---|---|---|---|");
            row("Attune", "cpu-flash", flashS, texts.size(), tokens, ortS);
            row("Attune", "cpu-math", mathS, texts.size(), tokens, ortS);
            row(
                    "ONNX Runtime " + OrtEnvironment.getEnvironment().getVersion(),
                    "(its own)",
                    ortS,
                    texts.size(),
                    tokens,
                    ortS);
            System.out.printf("%nmax |Attune - ONNX Runtime| over all vector components: %.2g%n", maxDiff);
            return maxDiff <= 1e-4 ? 0 : 1;
        }
    }

    private static void row(String engine, String path, double s, int rows, long tokens, double ortS) {
        System.out.printf(
                "| %s | %s | %.2f | %.1f | %.0f | %.2fx |%n", engine, path, s, rows / s, tokens / s, ortS / s);
    }

    private interface Body {
        void run() throws Exception;
    }

    private static double best(int repeat, Body body) throws Exception {
        double best = Double.MAX_VALUE;
        for (int i = 0; i < repeat; i++) {
            long t0 = System.nanoTime();
            body.run();
            best = Math.min(best, (System.nanoTime() - t0) / 1e9);
        }
        return best;
    }

    private static OrtSession session(BuiltinModel m, int threads) throws Exception {
        byte[] bytes;
        try (InputStream in = CpuEmbeddingBenchmark.class.getClassLoader().getResourceAsStream(m.onnxResource())) {
            bytes = in.readAllBytes();
        }
        OrtSession.SessionOptions o = new OrtSession.SessionOptions();
        o.setIntraOpNumThreads(threads);
        o.setInterOpNumThreads(1);
        o.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.ALL_OPT);
        return OrtEnvironment.getEnvironment().createSession(bytes, o);
    }

    /** HF tokenizers (padding to the longest in the batch) + ONNX Runtime + pooling, length-sorted batches. */
    static float[][] onnxEmbed(OrtSession ort, HuggingFaceTokenizer hf, List<String> texts, int batch, BuiltinModel m)
            throws Exception {
        Integer[] order = IntStream.range(0, texts.size()).boxed().toArray(Integer[]::new);
        int[] lens = texts.stream().mapToInt(String::length).toArray();
        java.util.Arrays.sort(order, Comparator.comparingInt(i -> lens[i]));
        float[][] out = new float[texts.size()][];
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        for (int from = 0; from < order.length; from += batch) {
            int to = Math.min(order.length, from + batch);
            String[] chunk = new String[to - from];
            for (int i = from; i < to; i++) {
                chunk[i - from] = texts.get(order[i]);
            }
            Encoding[] enc = hf.batchEncode(chunk);
            int n = enc[0].getIds().length;
            long[] ids = new long[chunk.length * n];
            long[] mask = new long[ids.length];
            long[] types = new long[ids.length];
            for (int r = 0; r < chunk.length; r++) {
                System.arraycopy(enc[r].getIds(), 0, ids, r * n, n);
                System.arraycopy(enc[r].getAttentionMask(), 0, mask, r * n, n);
                System.arraycopy(enc[r].getTypeIds(), 0, types, r * n, n);
            }
            long[] shape = {chunk.length, n};
            try (OnnxTensor a = OnnxTensor.createTensor(env, LongBuffer.wrap(ids), shape);
                    OnnxTensor b = OnnxTensor.createTensor(env, LongBuffer.wrap(mask), shape);
                    OnnxTensor c = OnnxTensor.createTensor(env, LongBuffer.wrap(types), shape);
                    OrtSession.Result res = ort.run(Map.of("input_ids", a, "attention_mask", b, "token_type_ids", c))) {
                float[][][] h = (float[][][]) res.get(0).getValue();
                for (int r = 0; r < chunk.length; r++) {
                    out[order[from + r]] = pool(h[r], mask, r * n, n, m);
                }
            }
        }
        return out;
    }

    private static float[] pool(float[][] h, long[] mask, int off, int n, BuiltinModel m) {
        int d = h[0].length;
        float[] v = new float[d];
        if (m.sentence().pooling() == dev.attune.model.config.Pooling.CLS) {
            System.arraycopy(h[0], 0, v, 0, d);
        } else {
            int count = 0;
            for (int t = 0; t < n; t++) {
                if (mask[off + t] == 1) {
                    count++;
                    for (int i = 0; i < d; i++) {
                        v[i] += h[t][i];
                    }
                }
            }
            for (int i = 0; i < d; i++) {
                v[i] /= count;
            }
        }
        double norm = 0;
        for (float x : v) {
            norm += x * x;
        }
        float inv = (float) (1 / Math.max(Math.sqrt(norm), 1e-12));
        for (int i = 0; i < d; i++) {
            v[i] *= inv;
        }
        return v;
    }

    static List<String> readTexts(Path input, int limit) throws Exception {
        ObjectMapper json = new ObjectMapper();
        List<String> out = new ArrayList<>();
        try (BufferedReader r = Files.newBufferedReader(input, StandardCharsets.UTF_8)) {
            String line;
            while ((line = r.readLine()) != null && out.size() < limit) {
                if (!line.isBlank()) {
                    JsonNode n = json.readTree(line);
                    if (n.hasNonNull("text")) {
                        out.add(n.get("text").asText());
                    }
                }
            }
        }
        return out;
    }
}

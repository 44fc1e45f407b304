package dev.attune.examples.bench;

import dev.attune.kernels.attention.MaskKind;
import dev.attune.kernels.cpu.CpuThreads;
import dev.attune.kernels.device.DeviceInfo;
import dev.attune.kernels.ops.Tensor;
import dev.attune.kernels.ops.TensorOps;
import dev.attune.kernels.select.AttentionRequest;
import dev.attune.kernels.select.UserOverrides;
import dev.attune.model.DecoderModel;
import dev.attune.model.llama.LlamaGraph;
import dev.attune.model.llama.SequenceBatch;
import dev.attune.runtime.DeviceRunner;
import dev.attune.runtime.PassOutcome;
import java.io.IOException;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.stream.Collectors;

/**
 * CPU decoder prefill in process: one row of {@code --tokens} token ids (a fixed English text,
 * BOS first), {@code LlamaGraph.forward} plus the log-prob of every next token
 * ({@code TensorOps.tokenLogProbs}, as {@code attune loglik} does), after warm-ups, on
 * {@code --threads} threads. Tokens/s = prompt tokens / seconds of that pass; the forward pass
 * alone is timed too ({@code --forward-repeat} runs). With {@code --ids-dir} it writes each prompt's ids ({@code ids-N.txt}, for
 * the Jlama peer) and a one-row {@code loglik-N.jsonl} whose text tokenizes to the same ids where a
 * word boundary allows (for the whole-process {@code attune loglik} figure). With
 * {@code --profile true} one more pass is timed per op.
 *
 * <pre>bin/attune bench decoder-prefill --model DIR --threads 2 --tokens 128,512 --repeat 3 --logprobs 8</pre>
 *
 * Driven, with the Jlama peer, by examples/bench/decoder-prefill.sh.
 */
public final class DecoderPrefillBenchmark {

    /** A fixed English text; repeated as often as a prompt needs. */
    private static final String TEXT = "The history of the printing press begins in the fifteenth century, when "
            + "Johannes Gutenberg combined a screw press with movable metal type and an oil-based ink. Books that had "
            + "taken a scribe months to copy could now be produced in days, and within fifty years presses were at "
            + "work in more than two hundred European cities. The consequences reached far beyond the workshop: "
            + "prices fell, literacy spread, scholars could compare identical copies of a text, and new ideas "
            + "travelled faster than any authority could contain them. ";

    private DecoderPrefillBenchmark() {}

    public static int run(Map<String, String> opts) throws IOException {
        Path dir = Path.of(require(opts, "model"));
        int threads = Integer.parseInt(opts.getOrDefault("threads", "2"));
        int warmup = Integer.parseInt(opts.getOrDefault("warmup", "1"));
        int repeat = Integer.parseInt(opts.getOrDefault("repeat", "3"));
        int forwardRepeat = Integer.parseInt(opts.getOrDefault("forward-repeat", "1"));
        int logprobs = Integer.parseInt(opts.getOrDefault("logprobs", "0"));
        boolean profile = Boolean.parseBoolean(opts.getOrDefault("profile", "false"));
        Path idsDir = opts.containsKey("ids-dir") ? Path.of(opts.get("ids-dir")) : null;
        if (repeat < 1 || forwardRepeat < 1) {
            throw new IllegalArgumentException("decoder-prefill: --repeat and --forward-repeat must be positive");
        }
        int[] lengths = Arrays.stream(opts.getOrDefault("tokens", "128").split(","))
                .mapToInt(Integer::parseInt)
                .toArray();

        long t0 = System.nanoTime();
        try (DecoderModel model = DecoderModel.load(dir);
                CpuThreads pool = new CpuThreads(threads)) {
            DeviceRunner runner = new DeviceRunner(DeviceInfo.cpu(), UserOverrides.NONE, 0.9);
            System.out.printf(
                    Locale.ROOT,
                    "attune load seconds=%.1f threads=%d model=%s (%d layers, hidden %d, %d/%d heads, "
                            + "stored %s)%n",
                    (System.nanoTime() - t0) / 1e9,
                    threads,
                    dir,
                    model.config().layers(),
                    model.config().hiddenSize(),
                    model.config().heads(),
                    model.config().kvHeads(),
                    model.storedDtype());
            for (int n : lengths) {
                Prompt p = prompt(model, n);
                if (idsDir != null) {
                    Files.createDirectories(idsDir);
                    Files.writeString(
                            idsDir.resolve("ids-" + n + ".txt"),
                            Arrays.stream(p.ids).mapToObj(Integer::toString).collect(Collectors.joining(" ")) + "\n");
                    Files.writeString(
                            idsDir.resolve("loglik-" + n + ".jsonl"),
                            "{\"id\": 1, \"text\": " + jsonString(p.text) + "}\n",
                            StandardCharsets.UTF_8);
                    System.out.printf(Locale.ROOT, "attune prompt tokens=%d loglik_text_tokens=%d%n", n, p.textTokens);
                }
                // Warm-up, then the timed passes: forward + log-probs (what loglik does), then forward alone.
                for (int w = 0; w < warmup; w++) {
                    pass(model, runner, pool, p.ids, true, null);
                }
                double[] full = new double[repeat];
                double[] fwd = new double[forwardRepeat];
                Result last = null;
                for (int r = 0; r < repeat; r++) {
                    last = pass(model, runner, pool, p.ids, true, null);
                    full[r] = last.seconds;
                }
                for (int r = 0; r < forwardRepeat; r++) {
                    fwd[r] = pass(model, runner, pool, p.ids, false, null).seconds;
                }
                System.out.printf(
                        Locale.ROOT,
                        "attune prefill tokens=%d path=%s median_seconds=%.3f median_tokens_per_s=%.2f "
                                + "best_tokens_per_s=%.2f runs_tokens_per_s=%s forward_only_median_tokens_per_s=%.2f%n",
                        n,
                        last.path,
                        median(full),
                        n / median(full),
                        n / Arrays.stream(full).min().orElseThrow(),
                        rates(n, full),
                        n / median(fwd));
                if (logprobs > 0) {
                    float[] lp = last.logprobs;
                    StringBuilder b = new StringBuilder();
                    for (int i = 0; i < Math.min(logprobs, lp.length); i++) {
                        b.append(i == 0 ? "" : ",").append(String.format(Locale.ROOT, "%.6f", lp[i]));
                    }
                    System.out.printf(
                            Locale.ROOT,
                            "attune logprobs tokens=%d positions=%d values=%s%n",
                            n,
                            Math.min(logprobs, lp.length),
                            b);
                }
                if (profile) {
                    Map<String, long[]> perOp = new LinkedHashMap<>();
                    double s = pass(model, runner, pool, p.ids, true, perOp).seconds;
                    printProfile(
                            String.format(
                                    Locale.ROOT,
                                    "attune profile tokens=%d seconds=%.3f (one pass, per op: calls, seconds, share)",
                                    n,
                                    s),
                            perOp);
                }
            }
        }
        return 0;
    }

    private record Prompt(int[] ids, String text, int textTokens) {}

    /**
     * The first {@code n} ids of the repeated text, and its shortest word prefix with at least
     * {@code n} ids (exactly {@code n} when a word boundary falls there).
     */
    private static Prompt prompt(DecoderModel model, int n) {
        StringBuilder text = new StringBuilder();
        while (model.tokenize(text.toString()).length < n + 8) {
            text.append(TEXT);
        }
        int[] ids = Arrays.copyOf(model.tokenize(text.toString()), n);
        String[] words = text.toString().split(" ");
        // The token count grows with the word count; binary search the first prefix with >= n ids.
        int lo = 1;
        int hi = words.length;
        while (lo < hi) {
            int mid = (lo + hi) / 2;
            if (model.tokenize(String.join(" ", Arrays.copyOf(words, mid))).length >= n) {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        String prefix = String.join(" ", Arrays.copyOf(words, lo));
        return new Prompt(ids, prefix, model.tokenize(prefix).length);
    }

    private record Result(double seconds, float[] logprobs, String path) {}

    /** One prefill of one row, timed; with the log-probs of tokens 1.. given those before them. */
    private static Result pass(
            DecoderModel model,
            DeviceRunner runner,
            CpuThreads pool,
            int[] ids,
            boolean logprobs,
            Map<String, long[]> perOp) {
        SequenceBatch batch = SequenceBatch.prefill(List.of(ids));
        int[] rows = new int[ids.length - 1];
        int[] targets = new int[ids.length - 1];
        for (int p = 1; p < ids.length; p++) {
            rows[p - 1] = p - 1;
            targets[p - 1] = ids[p];
        }
        LlamaGraph graph = model.graph();
        AttentionRequest request = new AttentionRequest(
                model.storedDtype(), model.config().heads(), model.config().headDim(), 1, ids.length, MaskKind.CAUSAL);
        long[] nanos = new long[1];
        PassOutcome<float[]> o = runner.run(request, pool, (ops, choice) -> {
            LlamaGraph.Resident w = runner.resident(model, choice.dtype(), graph::residentOn);
            TensorOps timed = perOp == null ? ops : timed(ops, perOp);
            long t0 = System.nanoTime();
            Tensor hidden = graph.forward(w, batch, timed);
            float[] lp = logprobs ? timed.tokenLogProbs(hidden, rows, w.lmHead(), targets) : new float[0];
            nanos[0] = System.nanoTime() - t0;
            return lp;
        });
        return new Result(
                nanos[0] / 1e9,
                o.value(),
                o.choice().path().id() + " " + o.choice().dtype().id());
    }

    /** The header, then one line per op, most time first: calls, seconds, share of the ops' time. */
    static void printProfile(String header, Map<String, long[]> perOp) {
        long total = perOp.values().stream().mapToLong(v -> v[0]).sum();
        System.out.println(header);
        perOp.entrySet().stream()
                .sorted((a, b) -> Long.compare(b.getValue()[0], a.getValue()[0]))
                .forEach(e -> System.out.printf(
                        Locale.ROOT,
                        "attune profile   %-16s %5d %8.3f %5.1f%%%n",
                        e.getKey(),
                        e.getValue()[1],
                        e.getValue()[0] / 1e9,
                        100.0 * e.getValue()[0] / Math.max(1, total)));
    }

    /** {@code ops} with the wall time of every call added up per method name: {nanos, calls}. */
    static TensorOps timed(TensorOps ops, Map<String, long[]> perOp) {
        return (TensorOps) Proxy.newProxyInstance(
                TensorOps.class.getClassLoader(), new Class<?>[] {TensorOps.class}, (proxy, m, a) -> {
                    long t0 = System.nanoTime();
                    try {
                        return m.invoke(ops, a);
                    } catch (InvocationTargetException e) {
                        throw e.getCause();
                    } finally {
                        long[] v = perOp.computeIfAbsent(m.getName(), k -> new long[2]);
                        v[0] += System.nanoTime() - t0;
                        v[1]++;
                    }
                });
    }

    static double median(double[] xs) {
        double[] s = xs.clone();
        Arrays.sort(s);
        return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    }

    private static String rates(int n, double[] secs) {
        List<String> r = new ArrayList<>();
        for (double s : secs) {
            r.add(String.format(Locale.ROOT, "%.1f", n / s));
        }
        return String.join(",", r);
    }

    private static String jsonString(String s) {
        StringBuilder b = new StringBuilder("\"");
        for (char ch : s.toCharArray()) {
            switch (ch) {
                case '"' -> b.append("\\\"");
                case '\\' -> b.append("\\\\");
                case '\n' -> b.append("\\n");
                default -> b.append(ch);
            }
        }
        return b.append('"').toString();
    }

    static String require(Map<String, String> opts, String key) {
        String v = opts.get(key);
        if (v == null) {
            throw new IllegalArgumentException("attune bench: --" + key + " is required");
        }
        return v;
    }
}

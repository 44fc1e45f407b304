package dev.attune.examples.bench;

import dev.attune.kernels.attention.MaskKind;
import dev.attune.kernels.cpu.CpuGemm;
import dev.attune.kernels.cpu.CpuThreads;
import dev.attune.kernels.device.DeviceInfo;
import dev.attune.kernels.kv.KvBlockPool;
import dev.attune.kernels.kv.KvShape;
import dev.attune.kernels.ops.TensorOps;
import dev.attune.kernels.select.AttentionRequest;
import dev.attune.kernels.select.UserOverrides;
import dev.attune.model.DecoderModel;
import dev.attune.model.llama.DecoderConfig;
import dev.attune.model.llama.LlamaGraph;
import dev.attune.runtime.DeviceRunner;
import dev.attune.task.generate.GeneratedText;
import dev.attune.task.generate.GenerationRequest;
import dev.attune.task.generate.Generator;
import dev.attune.task.generate.SamplingParams;
import dev.attune.task.generate.TextGeneration;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.stream.Collectors;

/**
 * CPU decode in process, through the product's {@link Generator} (paged KV cache, continuous
 * batching, greedy sampling, the same op set as {@code attune generate}): one row at a time
 * (batch 1) and {@code --batch} rows decoded together, each of {@code --prompt-tokens} prompt
 * ids and {@code --new-tokens} generated ones, on {@code --threads} threads, after a warm-up run.
 *
 * <p>Decode tokens/s counts only the one-token steps of rows that have finished their prompt: the
 * wall time from the end of one pure-decode pass to the end of the next (forward, logits, the
 * sampling of the step before and the scheduling between), over the tokens that pass produced.
 * The bound is this machine's: the bytes of weights one step reads (every matrix of every layer
 * and the LM head, as held: bf16 for a BF16 checkpoint; the embedding table is only gathered)
 * over the read bandwidth measured here with the same threads, streaming a buffer much larger
 * than the caches.
 *
 * <pre>bin/attune bench decoder-decode --model DIR --threads 2 --prompt-tokens 32 --new-tokens 64 --batch 16</pre>
 *
 * Driven, with the Jlama peer, by examples/bench/decoder-decode.sh.
 */
public final class DecoderDecodeBenchmark {

    private DecoderDecodeBenchmark() {}

    public static int run(Map<String, String> opts) throws IOException {
        Path dir = Path.of(DecoderPrefillBenchmark.require(opts, "model"));
        int threads = Integer.parseInt(opts.getOrDefault("threads", "2"));
        int promptTokens = Integer.parseInt(opts.getOrDefault("prompt-tokens", "32"));
        int newTokens = Integer.parseInt(opts.getOrDefault("new-tokens", "64"));
        int batch = Integer.parseInt(opts.getOrDefault("batch", "16"));
        int repeat = Integer.parseInt(opts.getOrDefault("repeat", "3"));
        boolean profile = Boolean.parseBoolean(opts.getOrDefault("profile", "false"));
        long bandwidthBytes = Long.parseLong(opts.getOrDefault("bandwidth-mib", "2048")) << 20;
        Path idsDir = opts.containsKey("ids-dir") ? Path.of(opts.get("ids-dir")) : null;
        if (promptTokens < 1 || newTokens < 2 || batch < 1 || repeat < 1) {
            throw new IllegalArgumentException("decoder-decode: --prompt-tokens, --batch and --repeat must be "
                    + "positive and --new-tokens at least 2");
        }
        try (CpuThreads pool = new CpuThreads(threads)) {
            double gbps = readBandwidth(pool, bandwidthBytes);
            System.out.printf(
                    Locale.ROOT,
                    "attune bandwidth threads=%d read_gb_per_s=%.2f buffer_mib=%d%n",
                    threads,
                    gbps,
                    bandwidthBytes >> 20);
            long t0 = System.nanoTime();
            try (DecoderModel model = DecoderModel.load(dir)) {
                DeviceRunner runner = new DeviceRunner(DeviceInfo.cpu(), UserOverrides.NONE, 0.9);
                long weightBytes = decodeWeightBytes(model);
                System.out.printf(
                        Locale.ROOT,
                        "attune load seconds=%.1f threads=%d gemm=%s stored=%s weight_bytes_per_step=%d "
                                + "bound_tokens_per_s=%.2f%n",
                        (System.nanoTime() - t0) / 1e9,
                        threads,
                        CpuGemm.kernelName(),
                        model.storedDtype(),
                        weightBytes,
                        gbps * 1e9 / weightBytes);
                List<int[]> prompts = new ArrayList<>();
                for (int i = 0; i < Math.max(batch, 1); i++) {
                    prompts.add(promptIds(model, i, promptTokens));
                }
                if (idsDir != null) {
                    Files.createDirectories(idsDir);
                    Files.writeString(
                            idsDir.resolve("prompt-ids.txt"),
                            Arrays.stream(prompts.get(0))
                                            .mapToObj(Integer::toString)
                                            .collect(Collectors.joining(" "))
                                    + "\n");
                }
                // Warm-up: both shapes, short, so that C2 has compiled the decode loops.
                generate(model, runner, pool, prompts.subList(0, 1), 8, null);
                generate(model, runner, pool, prompts, 4, null);
                for (int b : batch == 1 ? new int[] {1} : new int[] {1, batch}) {
                    double[] rates = new double[repeat];
                    Run last = null;
                    for (int r = 0; r < repeat; r++) {
                        last = generate(model, runner, pool, prompts.subList(0, b), newTokens, null);
                        rates[r] = last.decodeTokensPerSecond();
                    }
                    System.out.printf(
                            Locale.ROOT,
                            "attune decode batch=%d prompt_tokens=%d new_tokens=%d path=%s median_tokens_per_s=%.2f "
                                    + "best_tokens_per_s=%.2f runs_tokens_per_s=%s decode_steps=%d "
                                    + "end_to_end_tokens_per_s=%.2f%n",
                            b,
                            promptTokens,
                            newTokens,
                            last.path,
                            DecoderPrefillBenchmark.median(rates),
                            Arrays.stream(rates).max().orElseThrow(),
                            Arrays.stream(rates)
                                    .mapToObj(x -> String.format(Locale.ROOT, "%.2f", x))
                                    .collect(Collectors.joining(",")),
                            last.steps,
                            last.generated / last.wallSeconds);
                    if (b == 1) {
                        System.out.printf(
                                Locale.ROOT,
                                "attune tokens values=%s%n",
                                Arrays.stream(last.rows.get(0).tokens())
                                        .mapToObj(Integer::toString)
                                        .collect(Collectors.joining(",")));
                    }
                    if (profile) {
                        Map<String, long[]> perOp = new LinkedHashMap<>();
                        Run p = generate(model, runner, pool, prompts.subList(0, b), newTokens, perOp);
                        DecoderPrefillBenchmark.printProfile(
                                "attune profile batch=" + b + " (whole run, prefill included; per op: calls, "
                                        + "seconds, share) wall_seconds="
                                        + String.format(Locale.ROOT, "%.3f", p.wallSeconds),
                                perOp);
                    }
                }
            }
        }
        return 0;
    }

    /** One generation's figures. */
    private record Run(
            List<GeneratedText> rows,
            String path,
            double decodeTokensPerSecond,
            int steps,
            int generated,
            double wallSeconds) {}

    /**
     * Greedy generation of {@code newTokens} for each prompt, every row admitted at once (the
     * batch is the number of prompts), through the product's generator.
     */
    private static Run generate(
            DecoderModel model,
            DeviceRunner runner,
            CpuThreads pool,
            List<int[]> prompts,
            int newTokens,
            Map<String, long[]> perOp) {
        DecoderConfig c = model.config();
        int longest = prompts.stream().mapToInt(p -> p.length).max().orElseThrow() + newTokens;
        AttentionRequest request = new AttentionRequest(
                model.storedDtype(),
                c.heads(),
                c.headDim(),
                prompts.size(),
                longest,
                MaskKind.CAUSAL,
                c.kvHeads(),
                c.slidingWindow(),
                false);
        List<GenerationRequest> rows = new ArrayList<>();
        for (int i = 0; i < prompts.size(); i++) {
            rows.add(new GenerationRequest(prompts.get(i), SamplingParams.greedy(newTokens), "row-" + i));
        }
        StepClock clock = new StepClock();
        LlamaGraph graph = model.graph();
        long t0 = System.nanoTime();
        var o = runner.run(request, pool, (first, choice) -> {
            LlamaGraph.Resident w = runner.resident(model, choice.dtype(), graph::residentOn);
            KvShape shape = graph.kvShape(TextGeneration.BLOCK_SIZE);
            KvBlockPool kv = new KvBlockPool(shape, prompts.size() * shape.blocksOf(longest));
            Generator g = new Generator(
                    graph,
                    w,
                    () -> {
                        TensorOps ops = runner.opsFor(choice, pool);
                        return perOp == null ? ops : DecoderPrefillBenchmark.timed(ops, perOp);
                    },
                    kv,
                    model.tokenizer(),
                    new HashSet<>(), // no end-of-sequence: every row generates exactly newTokens
                    prompts.size(),
                    Math.max(prompts.size(), 512),
                    clock);
            return g.generate(rows);
        });
        double wall = (System.nanoTime() - t0) / 1e9;
        int generated = o.value().stream().mapToInt(r -> r.tokens().length).sum();
        return new Run(
                o.value(),
                o.choice().path().id() + " " + o.choice().dtype().id(),
                clock.tokens / (clock.nanos / 1e9),
                clock.steps,
                generated,
                wall);
    }

    /** Wall time between the ends of consecutive pure-decode passes, and their tokens. */
    private static final class StepClock implements Generator.Listener {
        long last = -1;
        boolean lastWasDecode;
        long nanos;
        long tokens;
        int steps;

        @Override
        public void pass(int activeRows, int decodeTokens, int prefillTokens, int blocksInUse, long passNanos) {
            long now = System.nanoTime();
            boolean decode = prefillTokens == 0 && decodeTokens > 0;
            if (decode && lastWasDecode) {
                nanos += now - last;
                tokens += decodeTokens;
                steps++;
            }
            last = now;
            lastWasDecode = decode;
        }
    }

    /**
     * Bytes of weights one decode step reads: each layer's q, k, v, o, gate, up and down matrices
     * and the LM head, at 2 bytes a value for a BF16 checkpoint (kept in bf16 on the CPU) and 4
     * otherwise; the embedding table is gathered (one row per token), so it is not counted unless
     * it is also the head.
     */
    private static long decodeWeightBytes(DecoderModel model) {
        DecoderConfig c = model.config();
        long h = c.hiddenSize();
        long perLayer = h * (c.qDim() + 2L * c.kvDim()) + (long) c.qDim() * h + 3L * h * c.intermediateSize();
        long values = perLayer * c.layers() + (long) c.vocabSize() * h;
        return values * (model.storedDtype() == dev.attune.kernels.select.ComputeDtype.BF16 ? 2 : 4);
    }

    /** Prompt {@code i}: a numbered sentence, repeated as needed, cut to {@code n} ids (BOS first). */
    private static int[] promptIds(DecoderModel model, int i, int n) {
        StringBuilder text = new StringBuilder();
        String sentence = "Row " + i + ": the quick brown fox jumps over the lazy dog while Spark executors probe "
                + "their GPUs and choose attention paths. ";
        while (model.tokenize(text.toString()).length < n) {
            text.append(sentence);
        }
        return Arrays.copyOf(model.tokenize(text.toString()), n);
    }

    /**
     * Read bandwidth of {@code bytes} (much larger than the caches) split over the pool's threads:
     * the best of three timed sums of a float array (after one untimed), with the Vector API and
     * four accumulators per thread, so that the loads, not the additions, are the limit; the
     * decode GEMM reads its weights with the same instructions.
     */
    static double readBandwidth(CpuThreads pool, long bytes) {
        float[] a = new float[Math.toIntExact(bytes / Float.BYTES)];
        Arrays.fill(a, 1f);
        double best = 0;
        double check = 0;
        for (int r = 0; r < 4; r++) {
            int parts = pool.threads();
            double[] sums = new double[parts];
            long t0 = System.nanoTime();
            pool.parallelForEach(parts, (p0, p1) -> {
                for (int p = p0; p < p1; p++) {
                    int from = (int) ((long) a.length * p / parts);
                    int to = (int) ((long) a.length * (p + 1) / parts);
                    sums[p] = sum(a, from, to);
                }
            });
            double s = (System.nanoTime() - t0) / 1e9;
            check = Arrays.stream(sums).sum();
            if (r > 0) {
                best = Math.max(best, bytes / s / 1e9);
            }
        }
        if (check <= 0) {
            throw new IllegalStateException("bandwidth probe summed " + check);
        }
        return best;
    }

    private static double sum(float[] a, int from, int to) {
        var s = jdk.incubator.vector.FloatVector.SPECIES_PREFERRED;
        int l = s.length();
        var s0 = jdk.incubator.vector.FloatVector.zero(s);
        var s1 = s0;
        var s2 = s0;
        var s3 = s0;
        int i = from;
        for (; i + 4 * l <= to; i += 4 * l) {
            s0 = s0.add(jdk.incubator.vector.FloatVector.fromArray(s, a, i));
            s1 = s1.add(jdk.incubator.vector.FloatVector.fromArray(s, a, i + l));
            s2 = s2.add(jdk.incubator.vector.FloatVector.fromArray(s, a, i + 2 * l));
            s3 = s3.add(jdk.incubator.vector.FloatVector.fromArray(s, a, i + 3 * l));
        }
        double t = s0.add(s1).add(s2).add(s3).reduceLanes(jdk.incubator.vector.VectorOperators.ADD);
        for (; i < to; i++) {
            t += a[i];
        }
        return t;
    }
}

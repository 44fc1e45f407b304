import com.github.tjake.jlama.model.AbstractModel;
import com.github.tjake.jlama.model.ModelSupport;
import com.github.tjake.jlama.safetensors.DType;
import com.github.tjake.jlama.tensor.AbstractTensor;
import com.github.tjake.jlama.tensor.KvBufferCache;

import java.io.File;
import java.lang.reflect.Field;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;
import java.util.Optional;
import java.util.UUID;
import java.util.stream.Collectors;

/**
 * The Jlama peer of the decoder decode benchmark (examples/bench/decoder-decode.sh): greedy
 * generation at batch 1, on a fixed thread count, the way Jlama's own {@code AbstractModel.generate}
 * does it, without the tokenizer: per run a fresh KV buffer, one prefill of the prompt
 * ({@code batchForward}) whose last row gives the first new token ({@code sample}, temperature 0:
 * argmax), then one token at a time, {@code forward(token, position, kv)} and {@code sample} again,
 * until NEW_TOKENS tokens have been generated. No end-of-sequence stop: every run generates exactly
 * NEW_TOKENS tokens (as the Attune side does).
 *
 * <p>Decode tokens/s counts only the one-token steps (NEW_TOKENS - 1 of them: forward, the LM head
 * and the argmax), not the prefill nor the first token sampled from it. Before the timed runs, one
 * warm-up run of WARMUP_TOKENS new tokens on the same prompt (none if 0), for the JIT.
 *
 * <p>Compiled and run by the script on JDK 25 against the jlama-core jar Maven fetched; not part
 * of the Maven reactor (Jlama is Java 20 bytecode, the project Java 17).
 *
 * <pre>JlamaDecode MODEL_DIR THREADS PROMPT_IDS_FILE NEW_TOKENS WARMUP_TOKENS REPEATS</pre>
 * PROMPT_IDS_FILE holds the prompt's token ids, whitespace separated, taken as they are (no BOS
 * added). Prints "jlama ..." lines of machine-readable key=value pairs; the "jlama tokens" line is
 * the greedy tokens of the last run.
 */
public final class JlamaDecode {

    public static void main(String[] args) throws Exception {
        if (args.length != 6) {
            System.err.println("usage: JlamaDecode MODEL_DIR THREADS PROMPT_IDS_FILE NEW_TOKENS WARMUP_TOKENS REPEATS");
            System.exit(2);
        }
        File dir = new File(args[0]);
        int threads = Integer.parseInt(args[1]);
        int[] prompt = Arrays.stream(Files.readString(Path.of(args[2])).trim().split("\\s+"))
                .mapToInt(Integer::parseInt).toArray();
        int newTokens = Integer.parseInt(args[3]);
        int warmupTokens = Integer.parseInt(args[4]);
        int repeats = Integer.parseInt(args[5]);
        if (newTokens < 2 || warmupTokens < 0 || repeats < 1) {
            System.err.println("JlamaDecode: NEW_TOKENS must be at least 2, WARMUP_TOKENS at least 0, REPEATS at least 1");
            System.exit(2);
        }
        long t0 = System.nanoTime();
        AbstractModel model = ModelSupport.loadModel(dir, null, DType.F32, DType.F32, Optional.empty(),
                Optional.of(threads));
        System.out.printf(Locale.ROOT, "jlama load seconds=%.1f threads=%d%n", (System.nanoTime() - t0) / 1e9, threads);
        int vocab = model.getConfig().vocabularySize;
        for (int id : prompt) {
            if (id < 0 || id >= vocab) {
                System.err.println("JlamaDecode: prompt id " + id + " outside the vocabulary (" + vocab + ")");
                System.exit(2);
            }
        }
        Field f = AbstractModel.class.getDeclaredField("kvBufferCache");
        f.setAccessible(true);
        KvBufferCache cache = (KvBufferCache) f.get(model);

        if (warmupTokens > 0) {
            Run w = decode(model, cache, prompt, Math.max(warmupTokens, 2));
            System.out.printf(Locale.ROOT, "jlama warmup new_tokens=%d prefill_seconds=%.3f tokens_per_s=%.2f%n",
                    w.tokens.length, w.prefillSeconds, w.tokensPerSecond());
        }
        double[] rates = new double[repeats];
        Run last = null;
        for (int r = 0; r < repeats; r++) {
            last = decode(model, cache, prompt, newTokens);
            rates[r] = last.tokensPerSecond();
        }
        double[] s = rates.clone();
        Arrays.sort(s);
        double median = s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
        System.out.printf(Locale.ROOT, "jlama decode prompt_tokens=%d new_tokens=%d decode_steps=%d "
                        + "median_tokens_per_s=%.2f best_tokens_per_s=%.2f runs_tokens_per_s=%s "
                        + "prefill_seconds=%.3f%n",
                prompt.length, newTokens, newTokens - 1, median, s[s.length - 1],
                Arrays.stream(rates).mapToObj(x -> String.format(Locale.ROOT, "%.2f", x))
                        .collect(Collectors.joining(",")),
                last.prefillSeconds);
        System.out.printf(Locale.ROOT, "jlama tokens values=%s%n",
                Arrays.stream(last.tokens).mapToObj(Integer::toString).collect(Collectors.joining(",")));
        System.exit(0); // Jlama's executor threads are not daemons
    }

    /** One run's figures: the generated tokens, the prefill's seconds and the decode steps' seconds. */
    private record Run(int[] tokens, double prefillSeconds, double decodeSeconds) {
        double tokensPerSecond() {
            return (tokens.length - 1) / decodeSeconds;
        }
    }

    /**
     * Greedy generation of n tokens after the prompt with a fresh KV buffer, as Jlama's generate
     * loop does it: prefill, sample the last row, then forward + sample one token at a time.
     */
    private static Run decode(AbstractModel model, KvBufferCache cache, int[] prompt, int n) {
        int[] out = new int[n];
        try (KvBufferCache.KvBuffer kv = cache.getKvBuffer(UUID.randomUUID());
             AbstractTensor logits = model.makeDenseTensor(model.getConfig().vocabularySize)) {
            long t0 = System.nanoTime();
            AbstractTensor batch = model.batchForward(prompt, 0, kv);
            int next = model.sample(batch.slice(batch.shape().first() - 1), 0f, 0f, logits);
            batch.close();
            double prefill = (System.nanoTime() - t0) / 1e9;
            out[0] = next;
            long t1 = System.nanoTime();
            for (int i = 1; i < n; i++) {
                AbstractTensor o = model.forward(next, prompt.length + i - 1, kv, Optional.empty());
                next = model.sample(o, 0f, 0f, logits);
                o.close();
                kv.incrementContextPosition();
                out[i] = next;
            }
            return new Run(out, prefill, (System.nanoTime() - t1) / 1e9);
        }
    }
}

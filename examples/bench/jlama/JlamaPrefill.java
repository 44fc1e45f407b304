import com.github.tjake.jlama.model.AbstractModel;
import com.github.tjake.jlama.model.ModelSupport;
import com.github.tjake.jlama.safetensors.DType;
import com.github.tjake.jlama.tensor.AbstractTensor;
import com.github.tjake.jlama.tensor.KvBufferCache;

import java.io.File;
import java.lang.reflect.Field;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.UUID;

/**
 * The Jlama peer of the decoder prefill benchmark (examples/bench/decoder-prefill.sh): one prefill
 * ({@code AbstractModel.batchForward} over the prompt's token ids, fresh KV cache) of each given
 * prompt, after warm-ups, on a fixed thread count; and the log-probs of the first positions'
 * next tokens (log of {@code getLogits}, which returns probabilities).
 *
 * <p>Compiled and run by the script on JDK 25 against the jlama-core jar Maven fetched; not part
 * of the Maven reactor (Jlama is Java 20 bytecode, the project Java 17).
 *
 * <pre>JlamaPrefill MODEL_DIR THREADS WARMUPS REPEATS LOGPROB_POSITIONS IDS_FILE...</pre>
 * Each IDS_FILE holds one prompt's token ids, whitespace separated. Prints one "jlama ..." line per
 * result, machine-readable key=value pairs.
 */
public final class JlamaPrefill {

    public static void main(String[] args) throws Exception {
        if (args.length < 6) {
            System.err.println("usage: JlamaPrefill MODEL_DIR THREADS WARMUPS REPEATS LOGPROB_POSITIONS IDS_FILE...");
            System.exit(2);
        }
        File dir = new File(args[0]);
        int threads = Integer.parseInt(args[1]);
        int warmups = Integer.parseInt(args[2]);
        int repeats = Integer.parseInt(args[3]);
        int lpPositions = Integer.parseInt(args[4]);
        long t0 = System.nanoTime();
        AbstractModel model = ModelSupport.loadModel(dir, null, DType.F32, DType.F32, Optional.empty(),
                Optional.of(threads));
        System.out.printf(Locale.ROOT, "jlama load seconds=%.1f threads=%d%n", (System.nanoTime() - t0) / 1e9, threads);
        Field f = AbstractModel.class.getDeclaredField("kvBufferCache");
        f.setAccessible(true);
        KvBufferCache cache = (KvBufferCache) f.get(model);

        for (int a = 5; a < args.length; a++) {
            int[] ids = Arrays.stream(Files.readString(Path.of(args[a])).trim().split("\\s+"))
                    .mapToInt(Integer::parseInt).toArray();
            int n = ids.length;
            for (int w = 0; w < warmups; w++) {
                prefill(model, cache, ids, -1, null);
            }
            List<Double> secs = new ArrayList<>();
            for (int r = 0; r < repeats; r++) {
                secs.add(prefill(model, cache, ids, -1, null));
            }
            double[] s = secs.stream().mapToDouble(Double::doubleValue).sorted().toArray();
            double median = s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
            StringBuilder all = new StringBuilder();
            for (double x : secs) {
                all.append(all.isEmpty() ? "" : ",").append(String.format(Locale.ROOT, "%.1f", n / x));
            }
            System.out.printf(Locale.ROOT, "jlama prefill tokens=%d median_seconds=%.3f median_tokens_per_s=%.2f "
                    + "best_tokens_per_s=%.2f runs_tokens_per_s=%s%n", n, median, n / median, n / s[0], all);
            if (lpPositions > 0) {
                double[] lp = new double[Math.min(lpPositions, n - 1)];
                prefill(model, cache, ids, lp.length, lp);
                StringBuilder b = new StringBuilder();
                for (double x : lp) {
                    b.append(b.isEmpty() ? "" : ",").append(String.format(Locale.ROOT, "%.6f", x));
                }
                System.out.printf(Locale.ROOT, "jlama logprobs tokens=%d positions=%d values=%s%n", n, lp.length, b);
            }
        }
        System.exit(0); // Jlama's executor threads are not daemons
    }

    /** One prefill with a fresh KV cache; fills lp[p] = log P(ids[p+1] | ids[0..p]) when asked. */
    private static double prefill(AbstractModel model, KvBufferCache cache, int[] ids, int positions,
                                  double[] lp) throws Exception {
        try (KvBufferCache.KvBuffer kv = cache.getKvBuffer(UUID.randomUUID())) {
            long t0 = System.nanoTime();
            AbstractTensor out = model.batchForward(ids, 0, kv);
            double s = (System.nanoTime() - t0) / 1e9;
            if (lp != null) {
                for (int p = 0; p < positions; p++) {
                    float[] probs = model.getLogits(out.slice(p));
                    lp[p] = Math.log(probs[ids[p + 1]]);
                }
            }
            out.close();
            return s;
        }
    }
}

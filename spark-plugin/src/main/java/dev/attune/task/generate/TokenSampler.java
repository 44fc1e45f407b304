package dev.attune.task.generate;

import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * Chooses a row's next token from its logits on the host: penalties, then greedy or
 * temperature with top-k, top-p and min-p filters, then one draw from the row's own random
 * stream.
 *
 * <p>Reproducibility: a row's stream is seeded from the job's seed and the row's key only
 * ({@link #streamFor}), and each draw consumes exactly one value, so a row gets the same tokens
 * whatever batch, partition or retry it runs in. Candidates are ordered by probability, ties by
 * token id, so the draw does not depend on sort stability.
 *
 * <p>Threading: stateless; the random stream is the caller's, one per row.
 */
public final class TokenSampler {

    private TokenSampler() {}

    /** The random stream of the row with {@code key} under the job's {@code seed}. */
    public static SplittableRandom streamFor(long seed, String key) {
        long h = 0xcbf29ce484222325L; // FNV-1a over the key's UTF-16 units: stable across JVMs
        for (int i = 0; i < key.length(); i++) {
            h = (h ^ key.charAt(i)) * 0x100000001b3L;
        }
        return new SplittableRandom(mix(seed) ^ mix(h));
    }

    private static long mix(long z) { // SplitMix64's finaliser
        z = (z ^ (z >>> 30)) * 0xbf58476d1ce4e5b9L;
        z = (z ^ (z >>> 27)) * 0x94d049bb133111ebL;
        return z ^ (z >>> 31);
    }

    /**
     * The next token from {@code logits} (vocab values from {@code offset}), given the tokens
     * {@code seen} (prompt and generated, for the repetition penalty) and {@code generated} (for the
     * presence penalty) so far.
     */
    public static int sample(
            float[] logits,
            int offset,
            int vocab,
            SamplingParams p,
            int[] seen,
            int[] generated,
            SplittableRandom rng) {
        double[] z = new double[vocab];
        for (int i = 0; i < vocab; i++) {
            z[i] = logits[offset + i];
        }
        if (p.repetitionPenalty() != 1) {
            boolean[] done = new boolean[vocab];
            for (int t : seen) {
                if (t >= 0 && t < vocab && !done[t]) {
                    done[t] = true;
                    z[t] = z[t] > 0 ? z[t] / p.repetitionPenalty() : z[t] * p.repetitionPenalty();
                }
            }
        }
        if (p.presencePenalty() != 0) {
            boolean[] done = new boolean[vocab];
            for (int t : generated) {
                if (t >= 0 && t < vocab && !done[t]) {
                    done[t] = true;
                    z[t] -= p.presencePenalty();
                }
            }
        }
        if (p.isGreedy()) {
            return argmax(z);
        }
        // Candidates by probability, descending; ties by id. One primitive sort of (logit, id)
        // keys: the logit's float bits made order-preserving in the high half, the complement of
        // the id in the low half, read from the end.
        long[] keys = new long[vocab];
        for (int i = 0; i < vocab; i++) {
            int bits = Float.floatToIntBits((float) z[i]);
            int sortable = bits < 0 ? bits ^ 0x7fffffff : bits;
            keys[i] = ((long) sortable << 32) | (0xffffffffL - i);
        }
        Arrays.sort(keys);
        int[] order = new int[vocab];
        for (int r = 0; r < vocab; r++) {
            order[r] = (int) (0xffffffffL - (keys[vocab - 1 - r] & 0xffffffffL));
        }
        double max = z[order[0]];
        if (Double.isNaN(max) || max == Double.NEGATIVE_INFINITY) {
            throw new IllegalStateException("no token has a finite logit (" + max + ")");
        }
        int keep = p.topK() > 0 ? Math.min(p.topK(), vocab) : vocab;
        double[] prob = new double[keep];
        double sum = 0;
        for (int r = 0; r < keep; r++) {
            prob[r] = Math.exp((z[order[r]] - max) / p.temperature());
            sum += prob[r];
        }
        // min-p against the most likely token; top-p over the sorted mass. Both keep at least one.
        int n = keep;
        if (p.minP() > 0) {
            int m = 1;
            while (m < n && prob[m] >= p.minP() * prob[0]) {
                m++;
            }
            n = m;
        }
        if (p.topP() < 1) {
            double total = 0;
            for (int r = 0; r < n; r++) {
                total += prob[r];
            }
            double acc = 0;
            int m = 0;
            while (m < n) {
                acc += prob[m++];
                if (acc >= p.topP() * total) {
                    break;
                }
            }
            n = m;
        }
        sum = 0;
        for (int r = 0; r < n; r++) {
            sum += prob[r];
        }
        double u = rng.nextDouble() * sum;
        double acc = 0;
        for (int r = 0; r < n; r++) {
            acc += prob[r];
            if (u < acc) {
                return order[r];
            }
        }
        return order[n - 1];
    }

    static int argmax(double[] z) {
        int best = 0;
        for (int i = 1; i < z.length; i++) {
            if (z[i] > z[best]) {
                best = i;
            }
        }
        return best;
    }
}

package dev.attune.testing.decoder;

import java.util.Arrays;

/**
 * Greedy decoding with the float64 reference ({@link DecoderReference}, written from the HF
 * modeling code): at every step the whole sequence through the reference and the argmax of the
 * last position's logits. A step whose best two logits are within {@code margin} is a near tie
 * that fp32 may break the other way; {@link Continuation#decisive} counts the steps before the
 * first one, which a generator's tokens must match exactly.
 */
public final class ReferenceGreedy {

    /**
     * The greedy tokens, how many leading ones are decided by more than the margin, and each
     * token's log-probability (log softmax of the reference's logits).
     */
    public record Continuation(int[] tokens, int decisive, double[] logprobs) {}

    private ReferenceGreedy() {}

    /**
     * Up to {@code steps} greedy tokens after {@code prompt}, stopping after an end-of-sequence id
     * of {@code eos} (included, as generators return it).
     */
    public static Continuation continuation(
            DecoderReference ref, int[] prompt, int steps, java.util.Set<Integer> eos, double margin) {
        int[] all = prompt.clone();
        int decisive = -1;
        double[] lp = new double[steps];
        for (int s = 0; s < steps; s++) {
            double[][] logits = ref.logits(all);
            double[] z = logits[logits.length - 1];
            int best = UncachedGreedy.argmax(z);
            double second = Double.NEGATIVE_INFINITY;
            for (int i = 0; i < z.length; i++) {
                if (i != best) {
                    second = Math.max(second, z[i]);
                }
            }
            if (decisive < 0 && z[best] - second < margin) {
                decisive = s;
            }
            lp[s] = DecoderReference.logSoftmax(z)[best];
            all = Arrays.copyOf(all, all.length + 1);
            all[all.length - 1] = best;
            if (eos.contains(best)) {
                break;
            }
        }
        int[] tokens = Arrays.copyOfRange(all, prompt.length, all.length);
        return new Continuation(tokens, decisive < 0 ? tokens.length : decisive, Arrays.copyOf(lp, tokens.length));
    }
}

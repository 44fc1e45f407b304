package dev.attune.task.generate;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * The sampler: greedy is the argmax; with temperature the draws follow the softmax; top-k, top-p
 * and min-p never draw outside their sets; HF's repetition penalty and the presence penalty move
 * the logits as specified; a row's stream depends on the seed and its key only; bad parameters
 * are refused naming the parameter.
 */
class TokenSamplerTest {

    private static final float[] LOGITS = {1.0f, 2.5f, 0.2f, 2.4f, -1f};

    private static SamplingParams params(double t, int k, double p, double minP) {
        return new SamplingParams(t, k, p, minP, 1, 0, 10, List.of(), 0);
    }

    private static int[] counts(SamplingParams p, int draws) {
        SplittableRandom rng = new SplittableRandom(1);
        int[] c = new int[LOGITS.length];
        for (int i = 0; i < draws; i++) {
            c[TokenSampler.sample(LOGITS, 0, LOGITS.length, p, new int[0], new int[0], rng)]++;
        }
        return c;
    }

    @Test
    void greedyAndTopOneAreTheArgmax() {
        SplittableRandom rng = new SplittableRandom(3);
        assertEquals(1, TokenSampler.sample(LOGITS, 0, 5, SamplingParams.greedy(4), new int[0], new int[0], rng));
        assertEquals(1, TokenSampler.sample(LOGITS, 0, 5, params(1.5, 1, 1, 0), new int[0], new int[0], rng));
        // An offset into a (rows, vocab) block of logits.
        float[] two = new float[10];
        System.arraycopy(LOGITS, 0, two, 5, 5);
        assertEquals(1, TokenSampler.sample(two, 5, 5, SamplingParams.greedy(4), new int[0], new int[0], rng));
    }

    @Test
    void drawsFollowTheSoftmaxAndTheFiltersHold() {
        int draws = 40_000;
        int[] c = counts(params(1, 0, 1, 0), draws);
        double sum = 0;
        for (float z : LOGITS) {
            sum += Math.exp(z);
        }
        for (int i = 0; i < LOGITS.length; i++) {
            double want = Math.exp(LOGITS[i]) / sum;
            assertEquals(want, (double) c[i] / draws, 0.01, "token " + i);
        }
        // top-k 2: only tokens 1 and 3.
        int[] k2 = counts(params(1, 2, 1, 0), 5000);
        assertEquals(5000, k2[1] + k2[3]);
        // top-p 0.5: token 1 alone holds under half of the mass of all five, so 1 and 3 are kept.
        int[] p5 = counts(params(1, 0, 0.5, 0), 5000);
        assertEquals(5000, p5[1] + p5[3]);
        assertTrue(p5[1] > 0 && p5[3] > 0);
        // min-p 0.3: tokens with at least 0.3 of token 1's probability: 1, 3 (e^-0.1), 0 (e^-1.5 = 0.22 < 0.3: out).
        int[] m3 = counts(params(1, 0, 1, 0.3), 5000);
        assertEquals(5000, m3[1] + m3[3]);
        // Temperature 0.05 sharpens: token 1 against token 3 is e^(0.1 / 0.05) = 7.4 to 1.
        int[] cold = counts(params(0.05, 0, 1, 0), 5000);
        double coldSum = 0;
        for (float z : LOGITS) {
            coldSum += Math.exp((z - 2.5) / 0.05);
        }
        assertEquals(1 / coldSum, cold[1] / 5000.0, 0.02, "token 1 at temperature 0.05");
    }

    @Test
    void tiesGoToTheLowerIdAndNegativeLogitsOrderRightly() {
        SplittableRandom rng = new SplittableRandom(3);
        float[] z = {-1f, -0.5f, -0.5f, -3f};
        assertEquals(1, TokenSampler.sample(z, 0, 4, params(1, 1, 1, 0), new int[0], new int[0], rng));
        float[] neg = {-7f, -2f, -9f};
        assertEquals(1, TokenSampler.sample(neg, 0, 3, params(1, 1, 1, 0), new int[0], new int[0], rng));
        IllegalStateException e = assertThrows(
                IllegalStateException.class,
                () -> TokenSampler.sample(
                        new float[] {Float.NaN, 1f}, 0, 2, params(1, 0, 1, 0), new int[0], new int[0], rng));
        assertTrue(e.getMessage().contains("finite logit"), e.getMessage());
    }

    @Test
    void penaltiesMoveTheLogitsAsSpecified() {
        SplittableRandom rng = new SplittableRandom(3);
        // Repetition 2 on token 1 (2.5 -> 1.25): token 3 (2.4) wins.
        SamplingParams rep = new SamplingParams(0, 0, 1, 0, 2, 0, 10, List.of(), 0);
        assertEquals(3, TokenSampler.sample(LOGITS, 0, 5, rep, new int[] {1, 1}, new int[0], rng));
        // Seen 1, 3 and 4: 1.25, 1.2 and -2 (a negative logit is multiplied); token 1 still beats 0 (1.0).
        assertEquals(1, TokenSampler.sample(LOGITS, 0, 5, rep, new int[] {1, 3, 4}, new int[0], rng));
        // Presence 0.2 on the generated token 1: 2.3 < 2.4.
        SamplingParams pres = new SamplingParams(0, 0, 1, 0, 1, 0.2, 10, List.of(), 0);
        assertEquals(3, TokenSampler.sample(LOGITS, 0, 5, pres, new int[] {1}, new int[] {1}, rng));
        assertEquals(
                1,
                TokenSampler.sample(LOGITS, 0, 5, pres, new int[] {1}, new int[0], rng),
                "prompt tokens are not penalised");
    }

    @Test
    void aRowsStreamDependsOnTheSeedAndItsKeyOnly() {
        assertEquals(
                TokenSampler.streamFor(7, "row-1").nextLong(),
                TokenSampler.streamFor(7, "row-1").nextLong());
        assertNotEquals(
                TokenSampler.streamFor(7, "row-1").nextLong(),
                TokenSampler.streamFor(7, "row-2").nextLong());
        assertNotEquals(
                TokenSampler.streamFor(7, "row-1").nextLong(),
                TokenSampler.streamFor(8, "row-1").nextLong());
    }

    @Test
    void badParametersAreRefusedNamingThem() {
        assertTrue(assertThrows(IllegalArgumentException.class, () -> params(-1, 0, 1, 0))
                .getMessage()
                .contains("temperature -1.0"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> params(1, -2, 1, 0))
                .getMessage()
                .contains("top-k -2"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> params(1, 0, 0, 0))
                .getMessage()
                .contains("top-p 0.0"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> params(1, 0, 1, 1))
                .getMessage()
                .contains("min-p 1.0"));
        assertTrue(assertThrows(
                        IllegalArgumentException.class, () -> new SamplingParams(0, 0, 1, 0, 1, 0, 0, List.of(), 0))
                .getMessage()
                .contains("max new tokens 0"));
        assertTrue(assertThrows(
                        IllegalArgumentException.class, () -> new SamplingParams(0, 0, 1, 0, 1, 0, 5, List.of(""), 0))
                .getMessage()
                .contains("stop string is empty"));
    }
}

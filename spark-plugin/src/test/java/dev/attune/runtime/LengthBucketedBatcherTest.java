package dev.attune.runtime;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Length-bucketed batching: every row index appears in exactly one batch, batches are ordered by
 * length, the row and token limits hold (a row over the token budget gets a batch of its own),
 * and invalid limits are refused.
 */
class LengthBucketedBatcherTest {

    @Test
    void smallExampleGivesTheExpectedBatches() {
        int[] lengths = {5, 1, 9, 3, 3, 7};
        List<int[]> batches = new LengthBucketedBatcher(2, 100).batches(lengths);
        assertEquals(3, batches.size());
        assertArrayEquals(new int[] {1, 3}, batches.get(0)); // lengths 1, 3
        assertArrayEquals(new int[] {4, 0}, batches.get(1)); // lengths 3, 5 (ties by index)
        assertArrayEquals(new int[] {5, 2}, batches.get(2)); // lengths 7, 9
    }

    @Test
    void tokenBudgetCutsBatches() {
        int[] lengths = {4, 4, 4, 4, 4};
        List<int[]> batches = new LengthBucketedBatcher(100, 8).batches(lengths);
        assertEquals(List.of(2, 2, 1), batches.stream().map(b -> b.length).toList());
        assertArrayEquals(new int[] {0, 1}, batches.get(0));
        assertArrayEquals(new int[] {4}, batches.get(2));
    }

    @Test
    void overlongRowsGetBatchesOfTheirOwn() {
        int[] lengths = {3, 50, 2, 60, 4};
        List<int[]> batches = new LengthBucketedBatcher(10, 10).batches(lengths);
        assertEquals(3, batches.size());
        assertArrayEquals(new int[] {2, 0, 4}, batches.get(0)); // 2 + 3 + 4 = 9 tokens
        assertArrayEquals(new int[] {1}, batches.get(1));
        assertArrayEquals(new int[] {3}, batches.get(2));
    }

    @Test
    void emptyInputGivesNoBatches() {
        assertTrue(new LengthBucketedBatcher(4, 16).batches(new int[0]).isEmpty());
    }

    @Test
    void zeroLengthRowsStillRespectTheRowLimit() {
        List<int[]> batches = new LengthBucketedBatcher(3, 1).batches(new int[7]);
        assertEquals(List.of(3, 3, 1), batches.stream().map(b -> b.length).toList());
    }

    @ParameterizedTest
    @CsvSource({"1, 1", "1, 1000", "7, 64", "32, 512", "64, 4096", "1000, 100000"})
    void randomLengthsKeepEveryInvariant(int maxRows, int maxTokens) {
        Random rnd = new Random(maxRows * 31L + maxTokens);
        for (int trial = 0; trial < 20; trial++) {
            int[] lengths = new int[rnd.nextInt(300)];
            for (int i = 0; i < lengths.length; i++) {
                lengths[i] = rnd.nextInt(10) == 0 ? 2 + rnd.nextInt(600) : 2 + rnd.nextInt(40);
            }
            check(lengths, maxRows, maxTokens, new LengthBucketedBatcher(maxRows, maxTokens).batches(lengths));
        }
    }

    @Test
    void invalidLimitsAreRefused() {
        assertThrows(IllegalArgumentException.class, () -> new LengthBucketedBatcher(0, 10));
        assertThrows(IllegalArgumentException.class, () -> new LengthBucketedBatcher(10, 0));
        assertThrows(IllegalArgumentException.class, () -> new LengthBucketedBatcher(-1, 10));
        assertThrows(IllegalArgumentException.class, () -> new LengthBucketedBatcher(10, Integer.MIN_VALUE));
    }

    private static void check(int[] lengths, int maxRows, int maxTokens, List<int[]> batches) {
        int[] seen = new int[lengths.length];
        List<Integer> order = new ArrayList<>();
        for (int[] b : batches) {
            assertTrue(b.length >= 1, "empty batch");
            assertTrue(b.length <= maxRows, () -> "batch of " + b.length + " rows over " + maxRows);
            long tokens = Arrays.stream(b).mapToLong(i -> lengths[i]).sum();
            assertTrue(
                    tokens <= maxTokens || b.length == 1,
                    () -> "batch of " + b.length + " rows and " + tokens + " tokens over " + maxTokens);
            for (int i : b) {
                seen[i]++;
                order.add(i);
            }
        }
        for (int i = 0; i < seen.length; i++) {
            assertEquals(1, seen[i], "row " + i + " appears " + seen[i] + " times");
        }
        for (int k = 1; k < order.size(); k++) {
            assertTrue(lengths[order.get(k - 1)] <= lengths[order.get(k)], "batches are not ordered by length");
        }
        // Greedy: a batch is only closed when the next row would break a limit.
        for (int k = 1; k < batches.size(); k++) {
            int[] prev = batches.get(k - 1);
            int next = batches.get(k)[0];
            long tokens = Arrays.stream(prev).mapToLong(i -> lengths[i]).sum();
            assertTrue(prev.length == maxRows || tokens + lengths[next] > maxTokens, "batch closed early");
        }
    }
}

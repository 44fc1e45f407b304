package dev.attune.runtime;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;

/**
 * Groups rows into batches of similar length: rows are ordered by token count, then cut into
 * batches of at most {@code maxRows} rows and at most {@code maxTokens} tokens (a row longer than
 * the budget gets a batch of its own). Similar lengths keep the attention work of a batch even and
 * the packed batch free of waste.
 */
public final class LengthBucketedBatcher {

    private final int maxRows;
    private final int maxTokens;

    public LengthBucketedBatcher(int maxRows, int maxTokens) {
        if (maxRows < 1 || maxTokens < 1) {
            throw new IllegalArgumentException(
                    "batch limits must be positive: rows=" + maxRows + ", tokens=" + maxTokens);
        }
        this.maxRows = maxRows;
        this.maxTokens = maxTokens;
    }

    /** Batches of row indices into {@code lengths}; every index appears in exactly one batch. */
    public List<int[]> batches(int[] lengths) {
        Integer[] order = new Integer[lengths.length];
        for (int i = 0; i < order.length; i++) {
            order[i] = i;
        }
        Arrays.sort(order, Comparator.comparingInt((Integer i) -> lengths[i]).thenComparingInt(i -> i));
        List<int[]> out = new ArrayList<>();
        List<Integer> cur = new ArrayList<>();
        long tokens = 0;
        for (int i : order) {
            if (!cur.isEmpty() && (cur.size() >= maxRows || tokens + lengths[i] > maxTokens)) {
                out.add(cur.stream().mapToInt(Integer::intValue).toArray());
                cur.clear();
                tokens = 0;
            }
            cur.add(i);
            tokens += lengths[i];
        }
        if (!cur.isEmpty()) {
            out.add(cur.stream().mapToInt(Integer::intValue).toArray());
        }
        return out;
    }
}

package dev.attune.model.llama;

import java.util.Arrays;
import java.util.List;

/**
 * Token rows of a decoder batch packed back to back without padding: row {@code b} is tokens
 * {@code [cuSeqlens[b], cuSeqlens[b+1])} of {@code ids}, at absolute positions {@code positions}
 * (0, 1, 2, ... for a prefill from the start of each row).
 *
 * @param ids       (tokens) token ids
 * @param cuSeqlens (rows + 1) prefix sums of the row lengths, from 0
 * @param positions (tokens) the position of each token in its sequence
 */
public record SequenceBatch(int[] ids, int[] cuSeqlens, int[] positions) {

    public SequenceBatch {
        if (cuSeqlens.length < 2 || cuSeqlens[0] != 0 || cuSeqlens[cuSeqlens.length - 1] != ids.length
                || positions.length != ids.length) {
            throw new IllegalArgumentException("a batch of " + ids.length + " tokens needs cuSeqlens from 0 to "
                    + ids.length + " and one position per token");
        }
    }

    /** The rows packed, each a prefill from position 0. */
    public static SequenceBatch prefill(List<int[]> rows) {
        int[] cu = new int[rows.size() + 1];
        for (int b = 0; b < rows.size(); b++) {
            cu[b + 1] = Math.addExact(cu[b], rows.get(b).length);
        }
        int[] ids = new int[cu[rows.size()]];
        int[] pos = new int[ids.length];
        for (int b = 0; b < rows.size(); b++) {
            System.arraycopy(rows.get(b), 0, ids, cu[b], rows.get(b).length);
            for (int i = 0; i < rows.get(b).length; i++) {
                pos[cu[b] + i] = i;
            }
        }
        return new SequenceBatch(ids, cu, pos);
    }

    public int rows() {
        return cuSeqlens.length - 1;
    }

    public int tokens() {
        return ids.length;
    }

    public int length(int row) {
        return cuSeqlens[row + 1] - cuSeqlens[row];
    }

    public int maxLength() {
        int m = 0;
        for (int b = 0; b < rows(); b++) {
            m = Math.max(m, length(b));
        }
        return m;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof SequenceBatch s && Arrays.equals(ids, s.ids) && Arrays.equals(cuSeqlens, s.cuSeqlens)
                && Arrays.equals(positions, s.positions);
    }

    @Override
    public int hashCode() {
        return 31 * (31 * Arrays.hashCode(ids) + Arrays.hashCode(cuSeqlens)) + Arrays.hashCode(positions);
    }

    @Override
    public String toString() {
        return "SequenceBatch[rows=" + rows() + ", tokens=" + tokens() + "]";
    }
}

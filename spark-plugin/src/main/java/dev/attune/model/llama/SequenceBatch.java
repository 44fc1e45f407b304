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
 * @param prefixRows null, or per row the earlier row whose tokens are its context (a prompt shared
 *                  by several continuations, prefilled once), or -1 (see
 *                  {@link dev.attune.kernels.attention.AttentionProblem#prefixRows()})
 */
public record SequenceBatch(int[] ids, int[] cuSeqlens, int[] positions, int[] prefixRows) {

    public SequenceBatch {
        if (cuSeqlens.length < 2
                || cuSeqlens[0] != 0
                || cuSeqlens[cuSeqlens.length - 1] != ids.length
                || positions.length != ids.length
                || (prefixRows != null && prefixRows.length != cuSeqlens.length - 1)) {
            throw new IllegalArgumentException("a batch of " + ids.length + " tokens needs cuSeqlens from 0 to "
                    + ids.length + ", one position per token and at most one prefix row per row");
        }
    }

    /** Rows that share no prefix. */
    public SequenceBatch(int[] ids, int[] cuSeqlens, int[] positions) {
        this(ids, cuSeqlens, positions, null);
    }

    /**
     * Rows packed, where row {@code b} continues row {@code prefixRows[b]} (an earlier row with no
     * prefix of its own) or starts at position 0 ({@code -1}); a continuation's positions follow
     * its prefix's.
     */
    public static SequenceBatch withPrefixes(List<int[]> rows, int[] prefixRows) {
        SequenceBatch plain = prefill(rows);
        int[] pos = plain.positions;
        for (int b = 0; b < rows.size(); b++) {
            int p = prefixRows[b];
            if (p >= b || p < -1 || (p >= 0 && prefixRows[p] != -1)) {
                throw new IllegalArgumentException(
                        "row " + b + ": prefix row " + p + " must be an earlier row " + "without a prefix");
            }
            int offset = p < 0 ? 0 : rows.get(p).length;
            for (int i = 0; i < rows.get(b).length; i++) {
                pos[plain.cuSeqlens[b] + i] = offset + i;
            }
        }
        return new SequenceBatch(plain.ids, plain.cuSeqlens, pos, prefixRows.clone());
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

    /** Keys row {@code b}'s queries read: its prefix row's tokens (if any) and its own. */
    public int contextLength(int b) {
        int p = prefixRows == null ? -1 : prefixRows[b];
        return (p < 0 ? 0 : length(p)) + length(b);
    }

    /** The longest {@link #contextLength} of any row. */
    public int maxContextLength() {
        int m = 0;
        for (int b = 0; b < rows(); b++) {
            m = Math.max(m, contextLength(b));
        }
        return m;
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
        return o instanceof SequenceBatch s
                && Arrays.equals(ids, s.ids)
                && Arrays.equals(cuSeqlens, s.cuSeqlens)
                && Arrays.equals(positions, s.positions)
                && Arrays.equals(prefixRows, s.prefixRows);
    }

    @Override
    public int hashCode() {
        return 31 * (31 * (31 * Arrays.hashCode(ids) + Arrays.hashCode(cuSeqlens)) + Arrays.hashCode(positions))
                + Arrays.hashCode(prefixRows);
    }

    @Override
    public String toString() {
        return "SequenceBatch[rows=" + rows() + ", tokens=" + tokens() + "]";
    }
}

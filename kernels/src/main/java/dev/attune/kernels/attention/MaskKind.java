package dev.attune.kernels.attention;

/**
 * Which keys a query may attend to. Padding is never a dense mask: rows of a batch are packed
 * back to back and their lengths travel as {@link AttentionProblem#cuSeqlens()}, so "padding" and
 * "none" differ only in whether the rows of a batch have unequal lengths.
 */
public enum MaskKind {
    /** Every query sees every key of its own row; all rows have the same length. */
    NONE,
    /** Every query sees every key of its own row; rows have unequal lengths (packed). */
    PADDING,
    /** Query i sees keys 0..i of its own row. */
    CAUSAL;

    public String id() {
        return name().toLowerCase(java.util.Locale.ROOT);
    }
}

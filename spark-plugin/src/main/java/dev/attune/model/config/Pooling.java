package dev.attune.model.config;

/** How a sentence vector is made from the encoder's token vectors. */
public enum Pooling {
    /** The first token's vector ([CLS]). */
    CLS,
    /** The mean over the row's tokens, special tokens included (as sentence-transformers does). */
    MEAN,
    /** The element-wise maximum over the row's tokens. */
    MAX
}

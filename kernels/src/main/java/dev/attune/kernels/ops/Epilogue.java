package dev.attune.kernels.ops;

/** What a {@link TensorOps#linear} applies to {@code x · W + bias} before it stores the result. */
public enum Epilogue {
    /** The product plus bias, as it is. */
    NONE,
    /** GELU with the exact error function (BERT's feed-forward). */
    GELU_ERF
}

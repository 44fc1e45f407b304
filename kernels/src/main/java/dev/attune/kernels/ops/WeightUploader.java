package dev.attune.kernels.ops;

import dev.attune.kernels.select.ComputeDtype;

/**
 * Makes a model's weights resident on one device in one compute dtype, once, for all the
 * forward passes that will read them.
 *
 * <p>Layouts are logical: a Linear weight is given input-major, (in, out), so that
 * {@code y = x · W}, through {@link #linear}; a table read by rows (embeddings, a vocabulary
 * projection) is given (entries, width), through {@link #upload}. A backend may store either in
 * whatever layout its kernels read (the CUDA backend transposes Linear weights to (out, in)), and
 * rounds values to {@link #dtype()}; the tensor it returns has the logical shape either way.
 *
 * <p>Threading: implementations may be called from one thread at a time per model being loaded.
 * Failure: a weight that does not fit the device raises the backend's out-of-memory exception,
 * and what this uploader made before stays owned by the caller.
 */
public interface WeightUploader {

    /** The dtype weights are stored and computed in. */
    ComputeDtype dtype();

    /** A resident copy of {@code data} as a (rows, cols) matrix; {@code name} is for errors and logs. */
    Tensor upload(String name, float[] data, int rows, int cols);

    /**
     * A resident Linear weight, given input-major as an (in, out) matrix, to be the {@code w} of
     * {@link TensorOps#linear}. The tensor's shape is (in, out) whatever layout the backend keeps.
     * By default the same as {@link #upload}: a backend whose GEMM reads (in, out) needs nothing else.
     */
    default Tensor linear(String name, float[] inMajor, int in, int out) {
        return upload(name, inMajor, in, out);
    }

    /**
     * As {@link #upload(String, float[], int, int)} from values in their stored precision. By
     * default they are widened to fp32 first; a backend that can read bf16 weights in place
     * (the CPU) keeps them as they are.
     */
    default Tensor upload(String name, WeightData data, int rows, int cols) {
        return upload(name, data.toFloats(), rows, cols);
    }

    /** As {@link #linear(String, float[], int, int)} from values in their stored precision. */
    default Tensor linear(String name, WeightData inMajor, int in, int out) {
        return linear(name, inMajor.toFloats(), in, out);
    }

    /**
     * The (vocab, hidden) table the next-token logits are computed against ({@link
     * TensorOps#logits}, {@link TensorOps#tokenLogProbs}): an LM head, or a tied embedding table
     * that {@link TensorOps#gatherRows} reads too. Its shape is (vocab, hidden) whatever layout the
     * backend keeps; by default the same as {@link #upload(String, WeightData, int, int)}. The CPU
     * keeps it transposed, (hidden, vocab), so that a decode step's logits stream it once.
     */
    default Tensor outputTable(String name, WeightData table, int vocab, int hidden) {
        return upload(name, table, vocab, hidden);
    }

    /** A resident vector (a norm's gain, a bias) of {@code data.length} entries, or null for null. */
    default Tensor vector(String name, float[] data) {
        return data == null ? null : upload(name, data, 1, data.length);
    }
}

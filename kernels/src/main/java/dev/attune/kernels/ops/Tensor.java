package dev.attune.kernels.ops;

/**
 * A (rows, cols) row-major matrix held in one backend's memory: an activation made by a
 * {@link TensorOps} for one forward pass, or a weight made resident by a {@link WeightUploader}.
 *
 * <p>A tensor is opaque to model code: only the backend that made it reads or writes its
 * elements, and the model passes it from op to op. Weights are immutable once made and may be
 * shared by any number of passes; an activation belongs to the pass that allocated it.
 */
public interface Tensor {

    int rows();

    int cols();

    default long elements() {
        return (long) rows() * cols();
    }
}

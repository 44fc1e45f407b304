package dev.attune.runtime;

import dev.attune.kernels.select.AttentionChoice;
import dev.attune.kernels.select.ComputeDtype;
import dev.attune.model.EncoderModel;
import dev.attune.model.bert.TokenBatch;

/**
 * The GPU work a {@link GpuDeviceRunner} drives: one encoder forward pass on one device, and the
 * device's memory pool. The CUDA implementation is {@link CudaGpuForward}; tests give the runner
 * functions that throw the backend's real exceptions, so its control flow is tested without a GPU.
 *
 * <p>Failures are the CUDA backend's unchecked exceptions ({@code GpuOutOfMemoryException},
 * {@code KernelFailureException}, {@code KernelUnavailableException}) and
 * {@code PrecisionOverflowException} for an fp16 store that left fp16's range.
 *
 * <p>Threading: {@link #forward} is called concurrently by the device's task threads.
 */
public interface GpuForward extends AutoCloseable {

    /**
     * Runs the encoder on {@code batch} with the path, dtype and query chunking of {@code choice}
     * (a GPU path) and returns the last hidden state as fp32, (tokens, hidden), packed order.
     */
    float[] forward(EncoderModel model, TokenBatch batch, AttentionChoice choice);

    /** Frees device memory cached for reuse (not the resident weights). */
    void trimPool();

    /**
     * Drops {@code model}'s resident weights in {@code dtype}, which the runner will not use
     * again (the fp16 copy once the model runs in fp32 on this device): freed as soon as no
     * {@link #forward} under way reads them. A later forward in that dtype would upload them anew.
     * Thread-safe; a model without weights in that dtype is a no-op.
     */
    void retire(EncoderModel model, ComputeDtype dtype);

    /** Releases everything on the device; called once, when no forward is running. */
    @Override
    void close();
}

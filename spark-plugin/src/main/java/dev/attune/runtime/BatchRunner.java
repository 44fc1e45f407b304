package dev.attune.runtime;

import dev.attune.kernels.attention.MaskKind;
import dev.attune.kernels.cpu.CpuThreads;
import dev.attune.kernels.device.DeviceInfo;
import dev.attune.kernels.select.AttentionChoice;
import dev.attune.model.EncoderModel;
import dev.attune.model.bert.TokenBatch;

/**
 * Runs batches of a model on one device: the host CPU or a simulated device
 * ({@link DeviceRunner}), or a real GPU through the CUDA backend ({@link GpuDeviceRunner}).
 *
 * <p>Threading: implementations are safe for concurrent use by task threads.
 * Lifecycle: made when the executor's runtime starts, closed when it stops.
 */
public interface BatchRunner extends AutoCloseable {

    /** The device this runner computes on, as planned and reported. */
    DeviceInfo device();

    /** The selector's choice for a batch of this shape on this device, as it stands now. */
    AttentionChoice choose(EncoderModel model, int rows, int maxSeqLen, MaskKind mask);

    /** As {@link #choose(EncoderModel, int, int, MaskKind)} for this batch's rows and lengths. */
    default AttentionChoice choose(EncoderModel model, TokenBatch batch) {
        BatchShape s = BatchShape.of(batch);
        return choose(model, s.rows(), s.maxLen(), s.mask());
    }

    /**
     * Runs the encoder over {@code batch}: the last hidden state in packed order and what
     * produced each row. {@code threads} is the calling task's CPU pool (used by CPU paths).
     */
    BatchOutcome run(EncoderModel model, TokenBatch batch, CpuThreads threads);

    /** How often this runner had to depart from its first plan for a batch. */
    RunnerCounters counters();

    /** Releases device resources; the default holds none. */
    @Override
    default void close() {}
}

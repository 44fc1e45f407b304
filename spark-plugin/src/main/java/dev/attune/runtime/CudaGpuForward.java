package dev.attune.runtime;

import dev.attune.kernels.cuda.CudaBackend;
import dev.attune.kernels.cuda.CudaSession;
import dev.attune.kernels.cuda.GpuOutOfMemoryException;
import dev.attune.kernels.select.AttentionChoice;
import dev.attune.kernels.select.ComputeDtype;
import dev.attune.model.EncoderModel;
import dev.attune.model.bert.GpuBertEncoder;
import dev.attune.model.bert.TokenBatch;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * {@link GpuForward} on the CUDA backend of one GPU: each model's weights are made resident once
 * per compute dtype ({@link GpuBertEncoder}) and kept for the executor's life; each forward pass
 * runs on a session of its own whose activations come from the backend's memory pool and go back
 * to it when the pass ends, so later batches reuse them.
 *
 * <p>Threading: {@link #forward} is called concurrently by the GPU's task threads; each call has
 * its own session. Lifecycle: owns the backend and closes it, with every resident model, on
 * {@link #close}.
 */
public final class CudaGpuForward implements GpuForward {

    private static final Logger LOG = LoggerFactory.getLogger(CudaGpuForward.class);

    private final CudaBackend backend;
    private final Map<Key, GpuBertEncoder> encoders = new ConcurrentHashMap<>();

    /** One model (by identity) in one dtype. */
    private record Key(EncoderModel model, ComputeDtype dtype) {
    }

    public CudaGpuForward(CudaBackend backend) {
        this.backend = backend;
    }

    @Override
    public float[] forward(EncoderModel model, TokenBatch batch, AttentionChoice choice) {
        GpuBertEncoder encoder = encoders.computeIfAbsent(new Key(model, choice.dtype()), this::upload);
        try (CudaSession session = backend.session()) {
            return encoder.forward(session, batch, choice);
        }
    }

    /**
     * Uploads a model's weights, trimming the pool and trying once more when they do not fit.
     * Weights that never fit are not a batch's fault, so splitting batches would not help: that
     * is an {@link IllegalStateException} naming the model, dtype and device.
     */
    private GpuBertEncoder upload(Key k) {
        long t0 = System.nanoTime();
        GpuBertEncoder e;
        try {
            e = GpuBertEncoder.upload(backend, k.model().config(), k.model().encoder().weights(), k.dtype());
        } catch (GpuOutOfMemoryException first) {
            backend.trimPool();
            try {
                e = GpuBertEncoder.upload(backend, k.model().config(), k.model().encoder().weights(), k.dtype());
            } catch (GpuOutOfMemoryException again) {
                again.addSuppressed(first);
                throw new IllegalStateException("the weights of " + k.model().directory() + " in " + k.dtype() + " ("
                        + k.model().encoder().weights().parameters() * k.dtype().bytes() / (1 << 20) + " MiB) do not fit in "
                        + backend.device().label() + ": " + again.getMessage(), again);
            }
        }
        LOG.info("{}: {} resident in {} ({} MiB) in {} ms", backend.device().label(), k.model().directory(), k.dtype(),
                e.residentBytes() / (1 << 20), (System.nanoTime() - t0) / 1_000_000);
        return e;
    }

    @Override
    public void trimPool() {
        backend.trimPool();
    }

    @Override
    public void close() {
        RuntimeException first = null;
        for (GpuBertEncoder e : encoders.values()) {
            try {
                e.close();
            } catch (RuntimeException x) {
                first = first == null ? x : first;
            }
        }
        encoders.clear();
        try {
            backend.close();
        } catch (RuntimeException x) {
            if (first != null) {
                x.addSuppressed(first);
            }
            throw x;
        }
        if (first != null) {
            throw first;
        }
    }
}

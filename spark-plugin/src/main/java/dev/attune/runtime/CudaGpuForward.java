package dev.attune.runtime;

import dev.attune.kernels.cuda.CudaBackend;
import dev.attune.kernels.cuda.CudaSession;
import dev.attune.kernels.cuda.CudaTensorOps;
import dev.attune.kernels.cuda.CudaWeights;
import dev.attune.kernels.cuda.GpuOutOfMemoryException;
import dev.attune.kernels.ops.TensorOps;
import dev.attune.kernels.select.AttentionChoice;
import dev.attune.kernels.select.ComputeDtype;
import dev.attune.model.EncoderModel;
import dev.attune.model.bert.BertEncoder;
import dev.attune.model.bert.TokenBatch;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@link GpuForward} on the CUDA backend of one GPU: the model's one forward pass
 * ({@link BertEncoder#forward(BertEncoder.Resident, TokenBatch, TensorOps)}) run on
 * {@link CudaTensorOps}. Each model's weights are made resident once per compute dtype
 * ({@link BertEncoder#residentOn} through a {@link CudaWeights}) and kept for the executor's life,
 * unless {@linkplain #retire retired} (the fp16 copy of a model that overflowed fp16 here): each
 * pass leases the weights it reads, and retired weights are freed when the last pass reading them
 * ends ({@link LeasedResidents}); each forward pass runs on a session of its own whose
 * activations come from the backend's memory pool and go back to it when the pass ends, so later
 * batches reuse them.
 *
 * <p>Threading: {@link #forward} is called concurrently by the GPU's task threads; each call has
 * its own session and its own {@link CudaTensorOps}, and only reads the shared resident weights.
 * Lifecycle: owns the backend and closes it, with every resident model, on {@link #close}, which
 * must not run while a forward does.
 *
 * <p>Failure: as {@link GpuForward}: the backend's exceptions and, in fp16, a
 * {@code PrecisionOverflowException} naming the first store that left fp16's range (raised when
 * the pass downloads its result).
 */
public final class CudaGpuForward implements GpuForward {

    private static final Logger LOG = LoggerFactory.getLogger(CudaGpuForward.class);

    private final CudaBackend backend;
    private final LeasedResidents<Key, Resident> resident;

    /** One model (by identity) in one dtype. */
    private record Key(EncoderModel model, ComputeDtype dtype) {}

    /** A model's weights on the device, and the uploader that owns their memory. */
    private record Resident(CudaWeights memory, BertEncoder.Resident weights) {}

    public CudaGpuForward(CudaBackend backend) {
        this.backend = backend;
        this.resident = new LeasedResidents<>(this::upload, r -> r.memory().close());
    }

    @Override
    public float[] forward(EncoderModel model, TokenBatch batch, AttentionChoice choice) {
        try (LeasedResidents<Key, Resident>.Lease lease = resident.acquire(new Key(model, choice.dtype()));
                CudaSession session = backend.session()) {
            // Resources close in reverse: the session first (its stream synchronized, so no kernel
            // of this pass still reads the weights), then the lease, which may free retired weights.
            Resident r = lease.value();
            TensorOps ops = new CudaTensorOps(session, choice);
            // download waits for the pass and checks its fp16 stores before the session closes.
            return ops.download(model.encoder().forward(r.weights(), batch, ops));
        }
    }

    /**
     * Uploads a model's weights, trimming the pool and trying once more when they do not fit.
     * Weights that never fit are not a batch's fault, so splitting batches would not help: that
     * is an {@link IllegalStateException} naming the model, dtype and device. What a failed
     * attempt uploaded is released before the next attempt or the exception.
     */
    private Resident upload(Key k) {
        long t0 = System.nanoTime();
        Resident r;
        try {
            r = uploadOnce(k);
        } catch (GpuOutOfMemoryException first) {
            backend.trimPool();
            try {
                r = uploadOnce(k);
            } catch (GpuOutOfMemoryException again) {
                again.addSuppressed(first);
                throw new IllegalStateException(
                        "the weights of " + k.model().directory() + " in " + k.dtype() + " ("
                                + k.model().encoder().weights().parameters()
                                        * k.dtype().bytes()
                                        / (1 << 20) + " MiB) do not fit in "
                                + backend.device().label() + ": " + again.getMessage(),
                        again);
            }
        }
        LOG.info(
                "{}: {} resident in {} ({} MiB) in {} ms",
                backend.device().label(),
                k.model().directory(),
                k.dtype(),
                r.memory().residentBytes() / (1 << 20),
                (System.nanoTime() - t0) / 1_000_000);
        return r;
    }

    private Resident uploadOnce(Key k) {
        CudaWeights memory = new CudaWeights(backend, k.dtype());
        try {
            return new Resident(memory, k.model().encoder().residentOn(memory));
        } catch (RuntimeException | Error e) {
            try {
                memory.close();
            } catch (RuntimeException suppressed) {
                e.addSuppressed(suppressed);
            }
            throw e;
        }
    }

    @Override
    public void trimPool() {
        backend.trimPool();
    }

    /**
     * Frees {@code model}'s weights in {@code dtype} (their {@link CudaWeights}, through
     * {@code CudaBackend.release}) once no forward pass reads them: now, or when the last pass
     * under way ends, on that pass's thread.
     */
    @Override
    public void retire(EncoderModel model, ComputeDtype dtype) {
        if (resident.retire(new Key(model, dtype))) {
            LOG.info("{}: {} in {} retired", backend.device().label(), model.directory(), dtype);
        }
    }

    @Override
    public void close() {
        RuntimeException first = null;
        try {
            resident.close();
        } catch (RuntimeException x) {
            first = x;
        }
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

package dev.attune.kernels.cuda;

import dev.attune.kernels.ops.Tensor;
import dev.attune.kernels.ops.WeightUploader;
import dev.attune.kernels.select.ComputeDtype;
import java.util.ArrayList;
import java.util.List;

/**
 * Weights resident on one {@link CudaBackend}'s device in one compute dtype, for
 * {@link CudaTensorOps}: each weight is converted on the host to the dtype (round to nearest
 * even) and uploaded once with {@link CudaBackend#resident}. Linear weights, given (in, out), are
 * transposed on the host to PyTorch's (out, in) layout, which the GEMM kernels read; tables and
 * vectors go up as given. A fused projection (BERT's q | k | v, given (hidden, 3·hidden)) becomes
 * one (3·hidden, hidden) matrix whose output rows are q's, then k's, then v's, so one GEMM writes
 * q | k | v side by side per token.
 *
 * <p>Lifecycle: owns every array it uploaded until {@link #close}, which releases them; no pass
 * may still read them then. After a failed upload (for example out of memory) the arrays made
 * before stay owned here: close the uploader to release them. The backend must outlive it.
 *
 * <p>Threading: one thread at a time while uploading (as {@link WeightUploader} says); the
 * tensors it made may then be read by any number of concurrent passes. {@link #close} must not
 * run concurrently with anything else.
 */
public final class CudaWeights implements WeightUploader, AutoCloseable {

    private final CudaBackend backend;
    private final ComputeDtype dtype;
    private final List<GpuArray> owned = new ArrayList<>();
    private long bytes;
    private boolean closed;

    public CudaWeights(CudaBackend backend, ComputeDtype dtype) {
        if (backend == null || dtype == null) {
            throw new IllegalArgumentException("CUDA weights need a backend and a dtype");
        }
        this.backend = backend;
        this.dtype = dtype;
    }

    @Override
    public ComputeDtype dtype() {
        return dtype;
    }

    @Override
    public Tensor upload(String name, float[] data, int rows, int cols) {
        checkSize(name, data, rows, cols);
        return new CudaTensor(resident(data), rows, cols, false);
    }

    @Override
    public Tensor linear(String name, float[] inMajor, int in, int out) {
        checkSize(name, inMajor, in, out);
        return new CudaTensor(resident(transpose(inMajor, in, out)), in, out, true);
    }

    private static void checkSize(String name, float[] data, int rows, int cols) {
        if (data == null || rows < 0 || cols < 0 || data.length != (long) rows * cols) {
            throw new IllegalArgumentException(name + ": " + (data == null ? "no" : String.valueOf(data.length))
                    + " values for a (" + rows + ", " + cols + ") weight");
        }
    }

    private GpuArray resident(float[] host) {
        if (closed) {
            throw new IllegalStateException("these CUDA weights are closed");
        }
        GpuArray a = backend.resident(host, dtype);
        owned.add(a);
        bytes += a.bytes();
        return a;
    }

    /** Device memory the uploaded weights take. */
    public long residentBytes() {
        return bytes;
    }

    /** (rows, cols) row-major to (cols, rows) row-major. */
    static float[] transpose(float[] a, int rows, int cols) {
        if (a.length != (long) rows * cols) {
            throw new IllegalArgumentException(
                    "a (" + rows + ", " + cols + ") matrix has " + (long) rows * cols + " elements, not " + a.length);
        }
        float[] t = new float[a.length];
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) {
                t[c * rows + r] = a[r * cols + c];
            }
        }
        return t;
    }

    /**
     * Releases every uploaded array. Idempotent. A failure of one release does not stop the
     * others; the first is thrown at the end, the rest suppressed in it.
     */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        RuntimeException first = null;
        for (GpuArray a : owned) {
            try {
                backend.release(a);
            } catch (RuntimeException e) {
                if (first == null) {
                    first = e;
                } else {
                    first.addSuppressed(e);
                }
            }
        }
        owned.clear();
        bytes = 0;
        if (first != null) {
            throw first;
        }
    }
}

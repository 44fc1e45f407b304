package dev.attune.kernels.cuda;

import java.nio.ByteBuffer;
import jcuda.Pointer;
import jcuda.driver.CUstream;
import jcuda.driver.CUstream_flags;
import jcuda.driver.JCudaDriver;

/**
 * A stream and the pinned host buffer its transfers go through; one per active
 * {@link CudaSession}, recycled by the backend for the next session.
 *
 * <p>The stream is non-blocking: it does not synchronize with the legacy default stream, so
 * sessions on different threads overlap. Host-device copies are {@code cuMemcpy*Async} on this
 * stream from and to the pinned buffer, which orders them with the kernels of the session (a
 * synchronous {@code cuMemcpy} would run on the legacy stream, unordered with a non-blocking one).
 *
 * <p>Staging hazard: a region of the pinned buffer may be overwritten only after the copy that
 * reads it has run. {@link #claim} hands out regions front to back; when the buffer is full it
 * synchronizes the stream (every earlier copy is then done) and starts again at the front.
 *
 * <p>Threading: confined to the session that holds it. Callers bind the context first.
 */
final class SessionStream implements AutoCloseable {

    /** The largest staging buffer; bigger transfers go in chunks of this size. */
    static final int MAX_STAGING = 64 << 20;

    private static final int MIN_STAGING = 1 << 20;
    private static final int ALIGN = 256;

    private final String device;
    final CUstream stream;
    private Pointer host;
    private ByteBuffer buffer;
    private int capacity;
    private int used;

    SessionStream(String device) {
        this.device = device;
        CUstream s = new CUstream();
        DriverCalls.check(
                "cuStreamCreate",
                CudaResults.Phase.OTHER,
                device,
                () -> JCudaDriver.cuStreamCreate(s, CUstream_flags.CU_STREAM_NON_BLOCKING));
        this.stream = s;
    }

    /** Waits for everything enqueued; raises the classified failure of any of it. */
    void synchronize() {
        DriverCalls.check(
                "cuStreamSynchronize",
                CudaResults.Phase.SYNCHRONIZE,
                device,
                () -> JCudaDriver.cuStreamSynchronize(stream));
        used = 0;
    }

    /**
     * A region of {@code bytes} (at most {@link #MAX_STAGING}) of the pinned buffer that no
     * pending copy uses; its byte offset in {@link #buffer()}.
     */
    int claim(int bytes) {
        if (bytes < 0 || bytes > MAX_STAGING) {
            throw new IllegalArgumentException("staging holds 0.." + MAX_STAGING + " bytes, asked " + bytes);
        }
        if (bytes > capacity - used) {
            synchronize();
            if (bytes > capacity) {
                grow(bytes);
            }
        }
        int at = used;
        used = Math.min(capacity, (used + bytes + ALIGN - 1) / ALIGN * ALIGN);
        return at;
    }

    /** The pinned buffer, little-endian, whole capacity. */
    ByteBuffer buffer() {
        return buffer;
    }

    /** The device-visible address of byte {@code at} of the pinned buffer. */
    Pointer hostAt(int at) {
        return host.withByteOffset(at);
    }

    /** Called only with the stream idle (after {@link #synchronize}). */
    private void grow(int bytes) {
        int size = Math.max(MIN_STAGING, Integer.highestOneBit(Math.max(1, bytes - 1)) << 1);
        size = Math.min(MAX_STAGING, Math.max(size, bytes));
        freeHost();
        Pointer p = new Pointer();
        int want = size;
        DriverCalls.check(
                "cuMemAllocHost(" + want + ")",
                CudaResults.Phase.ALLOCATE,
                device,
                () -> JCudaDriver.cuMemAllocHost(p, want));
        host = p;
        buffer = p.getByteBuffer(0, want);
        capacity = want;
        used = 0;
    }

    private void freeHost() {
        if (host != null) {
            Pointer p = host;
            host = null;
            buffer = null;
            capacity = 0;
            DriverCalls.check("cuMemFreeHost", CudaResults.Phase.OTHER, device, () -> JCudaDriver.cuMemFreeHost(p));
        }
    }

    /** Destroys the stream and frees the pinned buffer; the caller synchronized before. */
    @Override
    public void close() {
        try {
            freeHost();
        } finally {
            DriverCalls.check(
                    "cuStreamDestroy", CudaResults.Phase.OTHER, device, () -> JCudaDriver.cuStreamDestroy(stream));
        }
    }
}

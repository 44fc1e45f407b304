package dev.attune.kernels.cuda;

import java.nio.ByteBuffer;
import java.util.ArrayDeque;
import jcuda.Pointer;
import jcuda.driver.CUevent;
import jcuda.driver.CUevent_flags;
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
 * reads it has run. The buffer is a {@link StagingRing}: {@link #claim} hands out regions in ring
 * order and, when it comes round to a region still in flight, waits for that copy's event only,
 * not for the whole stream; {@link #issued} records the event after each copy. Transfers go in
 * chunks of at most {@link #MAX_CHUNK}, half the largest buffer, so two are in flight at once.
 * The events are created with blocking synchronisation, so a waiting thread sleeps rather than
 * spins, as with the context's scheduling flag for stream waits.
 *
 * <p>Threading: confined to the session that holds it. Callers make the context current first.
 */
final class SessionStream implements AutoCloseable {

    /** The largest staging buffer. */
    static final int MAX_STAGING = 64 << 20;

    /** The largest chunk of one transfer: two fit in the largest buffer, one converting while one copies. */
    static final int MAX_CHUNK = MAX_STAGING / 2;

    private static final int MIN_STAGING = 1 << 20;

    private final String device;
    final CUstream stream;
    private final StagingRing<CUevent> ring = new StagingRing<>(this::await, this::giveBack);
    /** Events no pending region holds, for reuse. */
    private final ArrayDeque<CUevent> spareEvents = new ArrayDeque<>();

    private Pointer host;
    private ByteBuffer buffer;

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
        ring.reset();
    }

    /**
     * A region of {@code bytes} (at most {@link #MAX_STAGING}) of the pinned buffer that no
     * pending copy uses; its byte offset in {@link #buffer()}. Grows the buffer (after waiting for
     * the stream) when it is smaller than twice the request, rounded up to a power of two.
     */
    int claim(int bytes) {
        if (bytes < 0 || bytes > MAX_STAGING) {
            throw new IllegalArgumentException("staging holds 0.." + MAX_STAGING + " bytes, asked " + bytes);
        }
        // Room for two such regions, in powers of two so that slowly growing requests do not
        // re-pin at every step.
        int want = Math.min(MAX_STAGING, Math.max(MIN_STAGING, Integer.highestOneBit(2 * Math.max(1, bytes) - 1) << 1));
        if (ring.capacity() < want && ring.capacity() < MAX_STAGING) {
            synchronize();
            grow(want);
        }
        return ring.claim(bytes);
    }

    /** Records the event that tells when the copy just enqueued for the last {@link #claim}ed region has run. */
    void issued() {
        CUevent e = spareEvents.poll();
        if (e == null) {
            CUevent made = new CUevent();
            DriverCalls.check(
                    "cuEventCreate",
                    CudaResults.Phase.OTHER,
                    device,
                    () -> JCudaDriver.cuEventCreate(
                            made, CUevent_flags.CU_EVENT_DISABLE_TIMING | CUevent_flags.CU_EVENT_BLOCKING_SYNC));
            e = made;
        }
        CUevent event = e;
        try {
            DriverCalls.check(
                    "cuEventRecord", CudaResults.Phase.LAUNCH, device, () -> JCudaDriver.cuEventRecord(event, stream));
        } catch (RuntimeException ex) {
            spareEvents.push(event);
            throw ex;
        }
        ring.fence(event);
    }

    /** The pinned buffer, little-endian, whole capacity. */
    ByteBuffer buffer() {
        return buffer;
    }

    /** The device-visible address of byte {@code at} of the pinned buffer. */
    Pointer hostAt(int at) {
        return host.withByteOffset(at);
    }

    /** Bytes of pinned host memory this stream holds. */
    long pinnedBytes() {
        return ring.capacity();
    }

    /** Frees the pinned buffer of an idle stream; the next claim pins a new one. */
    void releasePinned() {
        ring.reset();
        freeHost();
    }

    private void await(CUevent e) {
        DriverCalls.check(
                "cuEventSynchronize", CudaResults.Phase.SYNCHRONIZE, device, () -> JCudaDriver.cuEventSynchronize(e));
    }

    private void giveBack(CUevent e) {
        spareEvents.push(e);
    }

    /** Called only with the stream idle (after {@link #synchronize}). */
    private void grow(int size) {
        freeHost();
        Pointer p = new Pointer();
        DriverCalls.check(
                "cuMemAllocHost(" + size + ")",
                CudaResults.Phase.ALLOCATE,
                device,
                () -> JCudaDriver.cuMemAllocHost(p, size));
        host = p;
        buffer = p.getByteBuffer(0, size);
        ring.resize(size);
    }

    private void freeHost() {
        if (host != null) {
            Pointer p = host;
            host = null;
            buffer = null;
            ring.resize(0);
            DriverCalls.check("cuMemFreeHost", CudaResults.Phase.OTHER, device, () -> JCudaDriver.cuMemFreeHost(p));
        }
    }

    /**
     * Destroys the stream and its events and frees the pinned buffer. Every step is tried; the
     * first failure is thrown. The stream's work need not be done: the driver destroys the stream
     * once it is, and the frees wait for the device.
     */
    @Override
    public void close() {
        RuntimeException failure = null;
        ring.reset();
        try {
            freeHost();
        } catch (RuntimeException e) {
            failure = e;
        }
        for (CUevent e : spareEvents) {
            failure = attempt(failure, "cuEventDestroy", () -> JCudaDriver.cuEventDestroy(e));
        }
        spareEvents.clear();
        failure = attempt(failure, "cuStreamDestroy", () -> JCudaDriver.cuStreamDestroy(stream));
        if (failure != null) {
            throw failure;
        }
    }

    /** Runs one step of {@link #close}; the first failure so far, this step's if it is the first. */
    private RuntimeException attempt(RuntimeException failure, String what, DriverCalls.Call call) {
        try {
            DriverCalls.check(what, CudaResults.Phase.OTHER, device, call);
        } catch (RuntimeException e) {
            return failure == null ? e : failure;
        }
        return failure;
    }

    /** {@link #close}, its failure dropped: for a stream already being given up after another failure. */
    void closeQuietly() {
        try {
            close();
        } catch (RuntimeException ignored) {
            // the caller is already reporting the failure that made it give the stream up
        }
    }
}

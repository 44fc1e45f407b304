package dev.attune.kernels.cuda;

import dev.attune.kernels.cuda.launch.EncoderOpsLaunch;
import dev.attune.kernels.cuda.launch.LaunchShape;
import dev.attune.kernels.select.ComputeDtype;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.JCudaDriver;

/**
 * One thread's work on a {@link CudaBackend}: a stream, the pooled buffers allocated in it, and
 * the {@link CudaOps} that launch kernels on it. Everything a session enqueues runs in order on its
 * stream; the host waits only in {@link #download}, {@link #downloadInts}, {@link #synchronize},
 * {@link CudaOps#countNonFinite} and {@link #close}.
 *
 * <p>Lifecycle: from {@link CudaBackend#session()}; {@link #close} synchronizes the stream and
 * returns every buffer of the session to the backend's pool (they are then invalid), and the
 * stream to the backend. Use with try-with-resources.
 *
 * <p>Threading: one thread at a time. Each entry point makes the backend's context current on the
 * calling thread for the call and restores the thread's previous context after it, so a session
 * may be handed from one thread to another between calls, and other GPU users of the thread are
 * left as they were.
 *
 * <p>Failure: launches report refusals at once; failures of running kernels come out of the next
 * synchronizing call as {@link KernelFailureException}. After a sticky failure
 * ({@link KernelFailureException#contextLost()}) the backend is marked lost, the session's
 * buffers are abandoned with the context, and {@link #close} only releases the session. Whatever
 * {@link #close} meets, the session's buffers and stream are accounted for: back to the pool and
 * the backend when the stream is known idle, else freed (the frees wait for the device first).
 */
public final class CudaSession implements AutoCloseable {

    private final CudaBackend backend;
    private final SessionStream stream;
    private final String label;
    private final DeviceMemoryPool<CUdeviceptr> pool;
    /** Every block of this session, by the array handed out for it (identity: the very instance). */
    private final Map<GpuArray, DeviceMemoryPool.Block<CUdeviceptr>> blocks = new IdentityHashMap<>();
    /**
     * Blocks recycled during the session, by size class. They are reused only by this session:
     * its stream orders the new user's work after the old user's, so no synchronization is needed;
     * the pool, shared with other streams, gets them only at {@link #close}, after the stream is idle.
     */
    private final Map<Long, ArrayDeque<DeviceMemoryPool.Block<CUdeviceptr>>> recycled = new HashMap<>();

    private final CudaOps ops;
    private boolean closed;

    CudaSession(CudaBackend backend, SessionStream stream) {
        this.backend = backend;
        this.stream = stream;
        this.label = backend.label();
        this.pool = backend.pool();
        this.ops = new CudaOps(this);
    }

    /** The backend's device. */
    public dev.attune.kernels.device.DeviceInfo device() {
        return backend.device();
    }

    /** An uninitialized pooled array of {@code elements} values of {@code dtype}, valid until {@link #close}. */
    public GpuArray alloc(ComputeDtype dtype, long elements) {
        if (dtype == null) {
            throw new IllegalArgumentException("alloc needs a dtype; use allocInts for int32");
        }
        return allocate(dtype, elements);
    }

    /** An uninitialized pooled int32 array. */
    public GpuArray allocInts(long elements) {
        return allocate(null, elements);
    }

    private GpuArray allocate(ComputeDtype dtype, long elements) {
        check();
        if (elements < 0) {
            throw new IllegalArgumentException("cannot allocate " + elements + " elements");
        }
        long bytes = Math.multiplyExact(elements, (long) (dtype == null ? Integer.BYTES : dtype.bytes()));
        long cls = DeviceMemoryPool.sizeClass(bytes);
        ArrayDeque<DeviceMemoryPool.Block<CUdeviceptr>> mine = recycled.get(cls);
        DeviceMemoryPool.Block<CUdeviceptr> block = mine != null && !mine.isEmpty() ? mine.pop() : acquire(bytes);
        GpuArray a = new GpuArray(block.handle(), dtype, elements);
        blocks.put(a, block);
        return a;
    }

    private DeviceMemoryPool.Block<CUdeviceptr> acquire(long bytes) {
        try {
            return pool.acquire(bytes);
        } catch (GpuOutOfMemoryException e) {
            // This session's own recycled blocks are the last reserve: give them to the pool (the
            // stream must be idle first, as they may still be in use by enqueued work) and retry.
            if (recycled.isEmpty()) {
                throw e;
            }
            synchronize();
            for (ArrayDeque<DeviceMemoryPool.Block<CUdeviceptr>> list : recycled.values()) {
                list.forEach(pool::release);
            }
            recycled.clear();
            return pool.acquire(bytes);
        }
    }

    /**
     * Gives an array of {@link #alloc} back before the session ends, for reuse by later allocations
     * of this session. Work already enqueued that uses it still runs correctly (stream order); the
     * caller must not enqueue more work on it.
     */
    public void recycle(GpuArray a) {
        DeviceMemoryPool.Block<CUdeviceptr> b = blocks.remove(a);
        if (b == null) {
            throw new IllegalArgumentException(a.describe() + " was not allocated by this session (or was recycled)");
        }
        recycled.computeIfAbsent(b.bytes(), k -> new ArrayDeque<>()).push(b);
    }

    /** Uploads {@code host[offset, offset + length)} converted on the host to {@code dtype}, into a pooled array. */
    public GpuArray upload(float[] host, int offset, int length, ComputeDtype dtype) {
        java.util.Objects.checkFromIndexSize(offset, length, host.length);
        GpuArray a = alloc(dtype, length);
        copyIn(a, host, offset, length);
        return a;
    }

    /** Uploads an int32 array into a pooled array. */
    public GpuArray upload(int[] host) {
        GpuArray a = allocInts(host.length);
        copyIn(a, host);
        return a;
    }

    /** Enqueues a copy of {@code host[offset, offset + a.elements())} into {@code a}, converted to its dtype. */
    void copyIn(GpuArray a, float[] host, int offset, int length) {
        if (a.isInt() || length != a.elements()) {
            throw new IllegalArgumentException("cannot copy " + length + " floats into " + a.describe());
        }
        try (PrimaryContext.Scope scope = enter()) {
            int eb = a.elementBytes();
            // Chunks of at most half the staging ring: the host converts one while the previous copies.
            int chunk = SessionStream.MAX_CHUNK / eb;
            for (int done = 0; done < length; done += chunk) {
                int n = Math.min(chunk, length - done);
                int at = claim(n * eb);
                HostConversion.putFloats(stream.buffer(), at, host, offset + done, n, a.dtype());
                copyToDevice(a.ptr().withByteOffset((long) done * eb), at, (long) n * eb);
            }
        }
    }

    /** Enqueues a copy of {@code host} into the int32 array {@code a} of the same length. */
    void copyIn(GpuArray a, int[] host) {
        if (!a.isInt() || host.length != a.elements()) {
            throw new IllegalArgumentException("cannot copy " + host.length + " ints into " + a.describe());
        }
        try (PrimaryContext.Scope scope = enter()) {
            int chunk = SessionStream.MAX_CHUNK / Integer.BYTES;
            for (int done = 0; done < host.length; done += chunk) {
                int n = Math.min(chunk, host.length - done);
                int at = claim(n * Integer.BYTES);
                HostConversion.putInts(stream.buffer(), at, host, done, n);
                copyToDevice(a.ptr().withByteOffset((long) done * Integer.BYTES), at, (long) n * Integer.BYTES);
            }
        }
    }

    /**
     * Enqueues the copy of staged bytes at {@code at} to {@code dst}, and marks the staging region
     * as in use until that copy has run.
     */
    private void copyToDevice(CUdeviceptr dst, int at, long bytes) {
        call(
                "cuMemcpyHtoDAsync(" + bytes + ")",
                CudaResults.Phase.LAUNCH,
                () -> JCudaDriver.cuMemcpyHtoDAsync(dst, stream.hostAt(at), bytes, stream.stream));
        try {
            stream.issued();
        } catch (KernelFailureException e) {
            throw backend.lose(e);
        }
    }

    /** A staging region of {@code bytes} (see {@link SessionStream#claim}), recording a sticky failure of its wait. */
    private int claim(int bytes) {
        try {
            return stream.claim(bytes);
        } catch (KernelFailureException e) {
            throw backend.lose(e);
        }
    }

    /**
     * The array's values as fp32, whatever its dtype (fp16 and bf16 are widened on the device by
     * the {@code to_f32} kernel). Waits for all work of the session.
     */
    public float[] download(GpuArray a) {
        try (PrimaryContext.Scope scope = enter()) {
            return downloadFloats(a);
        }
    }

    private float[] downloadFloats(GpuArray a) {
        if (a.isInt()) {
            throw new IllegalArgumentException("download of " + a.describe() + ": use downloadInts");
        }
        if (a.elements() > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException(a.describe() + " is too large for one Java array");
        }
        GpuArray f32 = a;
        if (a.dtype() != ComputeDtype.FP32) {
            f32 = alloc(ComputeDtype.FP32, a.elements());
            if (a.elements() > 0) {
                launch(
                        EncoderOpsLaunch.MODULE,
                        EncoderOpsLaunch.elementwise("to_f32", a.dtype(), a.elements()),
                        new KernelArgs().ptr(a).ptr(f32).i64(a.elements()));
            }
        }
        float[] out = new float[(int) a.elements()];
        int chunk = SessionStream.MAX_CHUNK / Float.BYTES;
        for (int done = 0; done < out.length; done += chunk) {
            int n = Math.min(chunk, out.length - done);
            int at = copyOut(f32.ptr().withByteOffset((long) done * Float.BYTES), (long) n * Float.BYTES);
            HostConversion.getFloats(stream.buffer(), at, out, done, n);
        }
        if (f32 != a) {
            recycle(f32);
        }
        return out;
    }

    /** The values of an int32 array. Waits for all work of the session. */
    public int[] downloadInts(GpuArray a) {
        try (PrimaryContext.Scope scope = enter()) {
            return downloadIntArray(a);
        }
    }

    private int[] downloadIntArray(GpuArray a) {
        if (!a.isInt()) {
            throw new IllegalArgumentException("downloadInts of " + a.describe() + ": use download");
        }
        if (a.elements() > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException(a.describe() + " is too large for one Java array");
        }
        int[] out = new int[(int) a.elements()];
        int chunk = SessionStream.MAX_CHUNK / Integer.BYTES;
        for (int done = 0; done < out.length; done += chunk) {
            int n = Math.min(chunk, out.length - done);
            int at = copyOut(a.ptr().withByteOffset((long) done * Integer.BYTES), (long) n * Integer.BYTES);
            HostConversion.getInts(stream.buffer(), at, out, done, n);
        }
        return out;
    }

    /** Copies device bytes into the staging buffer and waits; the offset where they are. */
    private int copyOut(CUdeviceptr src, long bytes) {
        int at = claim((int) bytes);
        call(
                "cuMemcpyDtoHAsync(" + bytes + ")",
                CudaResults.Phase.LAUNCH,
                () -> JCudaDriver.cuMemcpyDtoHAsync(stream.hostAt(at), src, bytes, stream.stream));
        synchronize();
        return at;
    }

    /** Enqueues zeroing of the array's bytes. */
    public void zero(GpuArray a) {
        long bytes = a.bytes();
        try (PrimaryContext.Scope scope = enter()) {
            call(
                    "cuMemsetD8Async(" + bytes + ")",
                    CudaResults.Phase.LAUNCH,
                    () -> JCudaDriver.cuMemsetD8Async(a.ptr(), (byte) 0, bytes, stream.stream));
        }
    }

    /** The kernels of the encoder, launched on this session's stream. */
    public CudaOps ops() {
        return ops;
    }

    /** Waits for all enqueued work; raises the classified failure of any of it. */
    public void synchronize() {
        try (PrimaryContext.Scope scope = enter()) {
            stream.synchronize();
        } catch (KernelFailureException e) {
            throw backend.lose(e);
        }
    }

    /**
     * Synchronizes, then returns every buffer of the session to the pool and the stream to the
     * backend, and ends the session's use of the backend (the last one after the backend's close
     * frees it). Idempotent. A failure of the synchronization is raised after the release.
     *
     * <p>What becomes of the buffers and the stream: when the stream is known idle (the sync
     * returned, or failed with a non-sticky error, which leaves it finished), they are reused; after
     * a sticky error they are abandoned with the context; after any other failure (the context
     * could not be made current, say) the device may still be using them, so the blocks are freed
     * ({@code cuMemFree} waits for the device first) and the stream destroyed (the driver defers
     * that until its work is done) rather than handed to another stream.
     */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        RuntimeException failure;
        try {
            failure = finish();
        } finally {
            blocks.clear();
            recycled.clear();
            backend.leave();
        }
        if (failure != null) {
            throw failure;
        }
    }

    /** The release half of {@link #close}; the first failure met, or null. */
    private RuntimeException finish() {
        List<DeviceMemoryPool.Block<CUdeviceptr>> all = new ArrayList<>(blocks.values());
        recycled.values().forEach(all::addAll);
        return SessionTeardown.finish(
                new SessionTeardown.Steps<DeviceMemoryPool.Block<CUdeviceptr>>() {
                    @Override
                    public boolean contextLost() {
                        return backend.contextLost();
                    }

                    @Override
                    public void synchronize() {
                        try (PrimaryContext.Scope scope = backend.context().enter()) {
                            stream.synchronize();
                        }
                    }

                    @Override
                    public KernelFailureException lose(KernelFailureException e) {
                        return backend.lose(e);
                    }

                    @Override
                    public void release(DeviceMemoryPool.Block<CUdeviceptr> block) {
                        pool.release(block);
                    }

                    @Override
                    public void discard(DeviceMemoryPool.Block<CUdeviceptr> block) {
                        pool.discard(block);
                    }

                    @Override
                    public void recycleStream() {
                        backend.recycle(stream);
                    }

                    @Override
                    public void destroyStream() {
                        try (PrimaryContext.Scope scope = backend.context().enter()) {
                            stream.close();
                        }
                    }
                },
                all);
    }

    // ---- for CudaOps ----

    String label() {
        return label;
    }

    CudaBackend backend() {
        return backend;
    }

    /** Launches a kernel on this session's stream. */
    void launch(String module, LaunchShape shape, KernelArgs args) {
        try (PrimaryContext.Scope scope = enter()) {
            backend.launcher().launch(module, shape, stream.stream, args);
        } catch (KernelFailureException e) {
            throw backend.lose(e);
        }
    }

    /** Throws when the session is closed or the context was lost. */
    private void check() {
        if (closed) {
            throw new IllegalStateException("this CUDA session of " + label + " is closed");
        }
        backend.checkUsable();
    }

    /**
     * After {@link #check}, makes the context current on the calling thread until the scope
     * closes. The session's open use keeps the backend from being freed meanwhile, even after the
     * backend's close.
     */
    private PrimaryContext.Scope enter() {
        check();
        return backend.context().enter();
    }

    private void call(String what, CudaResults.Phase phase, DriverCalls.Call c) {
        int r = DriverCalls.result(c);
        if (r != CudaResults.SUCCESS) {
            CudaException e = CudaResults.exception(r, what, phase, label, 0, null, null);
            throw e instanceof KernelFailureException kf ? backend.lose(kf) : e;
        }
    }

    /** Arrays currently held by this session (not counting recycled ones); for tests and diagnostics. */
    int heldArrays() {
        return blocks.size();
    }
}

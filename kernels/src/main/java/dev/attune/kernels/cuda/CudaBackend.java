package dev.attune.kernels.cuda;

import dev.attune.kernels.device.DeviceInfo;
import dev.attune.kernels.select.ComputeDtype;
import java.util.ArrayDeque;
import java.util.IdentityHashMap;
import java.util.Map;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.JCudaDriver;

/**
 * Attune's compute on one CUDA GPU: the device's primary context, the PTX modules loaded into it,
 * a pool of device memory, and the long-lived arrays (model weights) uploaded to it. Work is done
 * in {@link CudaSession}s, each with its own stream.
 *
 * <p>Lifecycle: {@link #open} retains the primary context; {@link #close} frees the resident
 * arrays, the pool, the modules and the streams, and releases the context. Sessions must be
 * closed before the backend; arrays of a closed backend are invalid. Only load this class after
 * the probe found a GPU: it links against JCuda's driver binding.
 *
 * <p>Threading: thread-safe. Any number of threads may each hold a session at the same time; the
 * kernels of different sessions may overlap on the device. {@link #resident} and
 * {@link #release} may be called from any thread, and synchronize with nothing but their own copy.
 *
 * <p>Failure: driver failures are {@link CudaException}s: {@link GpuOutOfMemoryException} (the
 * pool already freed its cache and retried once; the caller may {@link #trimPool} and retry with
 * less), {@link KernelUnavailableException} (try another path), {@link KernelFailureException}.
 * After a failure whose {@link KernelFailureException#contextLost()} is true, {@link #contextLost()}
 * is true and every further use throws that failure again; close the backend.
 */
public final class CudaBackend implements AutoCloseable {

    /** Elements converted and copied per step of a resident upload. */
    private static final int RESIDENT_CHUNK = 1 << 22;

    private final DeviceInfo device;
    private final String label;
    private final PrimaryContext context;
    private final DriverAllocator allocator;
    private final DeviceMemoryPool<CUdeviceptr> pool;
    private final PtxModuleCache modules;
    private final KernelLauncher launcher;
    private final ArrayDeque<SessionStream> idleStreams = new ArrayDeque<>();
    private final Map<GpuArray, CUdeviceptr> residents = new IdentityHashMap<>();
    private long residentBytes;
    private volatile KernelFailureException lost;
    private volatile boolean closed;

    private CudaBackend(DeviceInfo device, PrimaryContext context) {
        this.device = device;
        this.label = device.label();
        this.context = context;
        this.allocator = new DriverAllocator(context, label);
        this.pool = new DeviceMemoryPool<>(allocator);
        this.modules = new PtxModuleCache(device);
        this.launcher = new KernelLauncher(modules, label);
    }

    /**
     * A backend on {@code gpu}, retaining the primary context of {@code gpu.ordinal()}. Modules
     * are JIT-compiled on first use, not here.
     *
     * @throws CudaException when the driver refuses (no such device, out of memory for the context, ...)
     */
    public static CudaBackend open(DeviceInfo gpu) {
        return new CudaBackend(gpu, PrimaryContext.retain(gpu));
    }

    /** The device this backend computes on. */
    public DeviceInfo device() {
        return device;
    }

    /**
     * A session for the calling thread: binds the context to it, and holds a stream and the
     * pooled buffers it allocates until {@link CudaSession#close}. Use with try-with-resources.
     */
    public CudaSession session() {
        checkUsable();
        context.bind();
        SessionStream s;
        synchronized (idleStreams) {
            s = idleStreams.poll();
        }
        if (s == null) {
            s = new SessionStream(label);
        }
        return new CudaSession(this, s);
    }

    /**
     * Uploads a long-lived array (a weight), converted on the host to {@code dtype} with
     * round-to-nearest-even. Not pooled: it stays until {@link #release} or {@link #close}.
     * Returns after the data is on the device.
     */
    public GpuArray resident(float[] host, ComputeDtype dtype) {
        GpuArray a = allocateResident(dtype, host.length);
        try (CudaSession s = session()) {
            for (int done = 0; done < host.length; done += RESIDENT_CHUNK) {
                int n = Math.min(RESIDENT_CHUNK, host.length - done);
                s.copyIn(a.slice(done, n), host, done, n);
            }
        } catch (RuntimeException e) {
            release(a);
            throw e;
        }
        return a;
    }

    /** Uploads a long-lived int32 array; as {@link #resident(float[], ComputeDtype)}. */
    public GpuArray resident(int[] host) {
        GpuArray a = allocateResident(null, host.length);
        try (CudaSession s = session()) {
            s.copyIn(a, host);
        } catch (RuntimeException e) {
            release(a);
            throw e;
        }
        return a;
    }

    private GpuArray allocateResident(ComputeDtype dtype, long elements) {
        checkUsable();
        long bytes = Math.max(1, elements * (dtype == null ? Integer.BYTES : dtype.bytes()));
        CUdeviceptr p;
        try {
            p = allocator.allocate(bytes);
        } catch (GpuOutOfMemoryException e) {
            if (pool.cachedBytes() == 0) {
                throw e;
            }
            pool.trim();
            p = allocator.allocate(bytes);
        }
        GpuArray a = new GpuArray(p, dtype, elements);
        synchronized (residents) {
            residents.put(a, p);
            residentBytes += bytes;
        }
        return a;
    }

    /**
     * Frees an array from {@link #resident}; the very instance it returned (slices are not
     * accepted). No work may still use it.
     */
    public void release(GpuArray residentArray) {
        CUdeviceptr p;
        synchronized (residents) {
            p = residents.remove(residentArray);
            if (p != null) {
                residentBytes -= Math.max(1, residentArray.bytes());
            }
        }
        if (p == null) {
            throw new IllegalArgumentException(residentArray.describe() + " is not a resident array of " + label);
        }
        if (lost == null && !closed) {
            allocator.free(p);
        }
    }

    /** Bytes of device memory the pool holds: handed out to open sessions plus cached for reuse. */
    public long poolBytes() {
        return pool.liveBytes() + pool.cachedBytes();
    }

    /** Bytes the pool caches for reuse, which {@link #trimPool} would free. */
    public long cachedPoolBytes() {
        return pool.cachedBytes();
    }

    /** Bytes of resident arrays. */
    public long residentBytes() {
        synchronized (residents) {
            return residentBytes;
        }
    }

    /** Frees the pool's cached blocks (for example after an out-of-memory failure, before retrying). */
    public void trimPool() {
        if (lost == null && !closed) {
            pool.trim();
        }
    }

    /** Whether {@link #close} was called. */
    public boolean isClosed() {
        return closed;
    }

    /** Whether a sticky failure has made the context unusable. */
    public boolean contextLost() {
        return lost != null;
    }

    /** The device's free memory as the driver sees it now (all processes), bytes. */
    public long freeDeviceMemory() {
        checkUsable();
        context.bind();
        long[] free = new long[1];
        long[] total = new long[1];
        DriverCalls.check("cuMemGetInfo", CudaResults.Phase.OTHER, label, () -> JCudaDriver.cuMemGetInfo(free, total));
        return free[0];
    }

    /**
     * Frees everything and releases the context. Idempotent. After a lost context, the frees are
     * skipped (the driver would refuse them) and only the context reference is dropped.
     */
    @Override
    public void close() {
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
        }
        RuntimeException failure = null;
        if (lost == null) {
            try {
                context.bind();
                synchronized (idleStreams) {
                    for (SessionStream s : idleStreams) {
                        s.close();
                    }
                    idleStreams.clear();
                }
                synchronized (residents) {
                    for (CUdeviceptr p : residents.values()) {
                        allocator.free(p);
                    }
                    residents.clear();
                    residentBytes = 0;
                }
                pool.trim();
                modules.close();
            } catch (RuntimeException e) {
                failure = e;
            }
        }
        try {
            context.close();
        } catch (RuntimeException e) {
            if (failure == null) {
                failure = e;
            }
        }
        if (failure != null) {
            throw failure;
        }
    }

    // ---- for sessions ----

    PrimaryContext context() {
        return context;
    }

    DeviceMemoryPool<CUdeviceptr> pool() {
        return pool;
    }

    KernelLauncher launcher() {
        return launcher;
    }

    String label() {
        return label;
    }

    /** Takes back a session's stream, idle, for the next session. */
    void recycle(SessionStream s) {
        if (closed || lost != null) {
            if (lost == null) {
                s.close();
            }
            return;
        }
        synchronized (idleStreams) {
            idleStreams.push(s);
        }
    }

    /** Records a sticky failure; returns it for rethrowing. */
    KernelFailureException lose(KernelFailureException e) {
        if (e.contextLost() && lost == null) {
            lost = e;
        }
        return e;
    }

    void checkUsable() {
        if (closed) {
            throw new IllegalStateException("the CUDA backend of " + label + " is closed");
        }
        KernelFailureException l = lost;
        if (l != null) {
            throw new KernelFailureException(
                    "the CUDA context of " + label + " was lost earlier: " + l.getMessage(),
                    l.result(),
                    l.resultName(),
                    label,
                    true,
                    l);
        }
    }
}

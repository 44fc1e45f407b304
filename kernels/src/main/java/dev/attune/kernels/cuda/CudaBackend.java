package dev.attune.kernels.cuda;

import dev.attune.kernels.device.DeviceInfo;
import dev.attune.kernels.select.ComputeDtype;
import java.util.ArrayDeque;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.JCudaDriver;

/**
 * Attune's compute on one CUDA GPU: the device's primary context, the PTX modules loaded into it,
 * a pool of device memory, and the long-lived arrays (model weights) uploaded to it. Work is done
 * in {@link CudaSession}s, each with its own stream.
 *
 * <p>Lifecycle: {@link #open} retains the primary context and starts loading the device's PTX
 * modules on a background thread (a JIT on a cold driver cache, see {@link PtxJitCache}), so the
 * first batch does not pay for it; a launch meanwhile waits only for the module it needs.
 * {@link #close} refuses new sessions and calls; the resident arrays, the pool, the modules and
 * the streams are freed and the context released once the last open session (or call, or the
 * module load) has ended: at once when none is open, else by the thread that closes the last
 * session ({@link UseGate}). So a shutdown or a runtime replacement never pulls the context from
 * under a task thread still using it. Arrays of a closed backend are invalid once it is freed.
 * Only load this class after the probe found a GPU: it links against JCuda's driver binding.
 *
 * <p>Threading: thread-safe. Any number of threads may each hold a session at the same time; the
 * kernels of different sessions may overlap on the device. {@link #resident} and
 * {@link #release} may be called from any thread, and synchronize with nothing but their own copy.
 * Every entry point makes the context current on the calling thread for the call and restores the
 * context the thread had before ({@link PrimaryContext#enter}), so other GPU users on the same
 * (reused) task thread find theirs.
 *
 * <p>Failure: driver failures are {@link CudaException}s: {@link GpuOutOfMemoryException} (the
 * pool already freed its cache and retried once; the caller may {@link #trimPool} and retry with
 * less), {@link KernelUnavailableException} (try another path), {@link KernelFailureException}.
 * After a failure whose {@link KernelFailureException#contextLost()} is true, {@link #contextLost()}
 * is true and every further use throws that failure again; close the backend.
 */
public final class CudaBackend implements AutoCloseable {

    /** Elements converted and copied per step of a resident upload (16 MiB of fp32). */
    static final int RESIDENT_CHUNK = 1 << 22;

    /**
     * Pinned staging memory the idle streams may keep between sessions, all together; a stream
     * recycled beyond it gives its buffer back, and its next session pins anew.
     */
    static final long IDLE_PINNED_CAP = 64L << 20;

    private final DeviceInfo device;
    private final String label;
    private final PrimaryContext context;
    private final DriverAllocator allocator;
    private final DeviceMemoryPool<CUdeviceptr> pool;
    private final PtxModuleCache modules;
    private final KernelLauncher launcher;
    private final UseGate gate = new UseGate(this::teardown);
    // idleStreams and idlePinned are guarded by idleStreams.
    private final ArrayDeque<SessionStream> idleStreams = new ArrayDeque<>();
    private long idlePinned;
    private final Map<GpuArray, CUdeviceptr> residents = new IdentityHashMap<>();
    private long residentBytes;
    private volatile KernelFailureException lost;
    private volatile RuntimeException deferredTeardownFailure;
    private volatile CompletableFuture<List<PtxWarmup.Module>> preload = CompletableFuture.completedFuture(List.of());

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
     * A backend on {@code gpu}, retaining the primary context of {@code gpu.ordinal()}, with the
     * device's modules loading in the background ({@link #modulesLoaded}).
     *
     * @throws CudaException when the driver refuses (no such device, out of memory for the context, ...)
     */
    public static CudaBackend open(DeviceInfo gpu) {
        CudaBackend b = new CudaBackend(gpu, PrimaryContext.retain(gpu));
        b.preloadModules();
        return b;
    }

    /**
     * Starts the background module load. It counts as a use of the backend, so that a close
     * meanwhile frees nothing until the driver has finished loading into the context.
     */
    private void preloadModules() {
        if (!gate.tryEnter()) {
            return;
        }
        // The loader thread is its own and ends with the load: its scope is never restored.
        preload = modules.preloadInBackground(() -> context.enter())
                .thenApply(loaded -> loaded.stream()
                        .map(l -> new PtxWarmup.Module(
                                l.module(),
                                l.nanos() / 1_000_000,
                                l.ok() ? "" : String.valueOf(l.failure().getMessage())))
                        .toList())
                .whenComplete((loaded, failure) -> leave());
    }

    /**
     * The background module load started by {@link #open}: completes with each module's outcome
     * (a module the driver refused is a failed outcome, and its launches raise
     * {@link KernelUnavailableException}), or exceptionally when the context could not be bound on
     * the loader thread.
     */
    public CompletableFuture<List<PtxWarmup.Module>> modulesLoaded() {
        return preload;
    }

    /** The device this backend computes on. */
    public DeviceInfo device() {
        return device;
    }

    /**
     * A session for the calling thread, holding a stream and the pooled buffers it allocates until
     * {@link CudaSession#close}. An open session keeps the backend from being freed. Use with
     * try-with-resources.
     *
     * @throws IllegalStateException when the backend is closed
     */
    public CudaSession session() {
        if (!gate.tryEnter()) {
            throw closed();
        }
        try {
            checkUsable();
            SessionStream s;
            synchronized (idleStreams) {
                s = idleStreams.poll();
                if (s != null) {
                    idlePinned -= s.pinnedBytes();
                }
            }
            if (s == null) {
                try (PrimaryContext.Scope scope = context.enter()) {
                    s = new SessionStream(label);
                }
            }
            return new CudaSession(this, s);
        } catch (RuntimeException | Error e) {
            leave();
            throw e;
        }
    }

    /**
     * Uploads a long-lived array (a weight), converted on the host to {@code dtype} with
     * round-to-nearest-even. Not pooled: it stays until {@link #release} or {@link #close}.
     * Returns after the data is on the device. The conversion of each chunk overlaps the copy of
     * the one before (the session's staging ring holds two).
     */
    public GpuArray resident(float[] host, ComputeDtype dtype) {
        try (Use use = use()) {
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
    }

    /** Uploads a long-lived int32 array; as {@link #resident(float[], ComputeDtype)}. */
    public GpuArray resident(int[] host) {
        try (Use use = use()) {
            GpuArray a = allocateResident(null, host.length);
            try (CudaSession s = session()) {
                s.copyIn(a, host);
            } catch (RuntimeException e) {
                release(a);
                throw e;
            }
            return a;
        }
    }

    private GpuArray allocateResident(ComputeDtype dtype, long elements) {
        long bytes = Math.max(1, elements * (dtype == null ? Integer.BYTES : dtype.bytes()));
        CUdeviceptr p;
        try {
            p = allocator.allocate(bytes);
        } catch (GpuOutOfMemoryException e) {
            // The pool's cached blocks are the only memory this backend can give back; retry only
            // if freeing them (or another thread's trim meanwhile) returned some.
            if (pool.trim() == 0) {
                throw e;
            }
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
     * accepted). No work may still use it. After {@link #close} it does nothing: the backend's
     * teardown frees every resident array.
     */
    public void release(GpuArray residentArray) {
        if (!gate.tryEnter()) {
            return;
        }
        try {
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
            if (lost == null) {
                allocator.free(p);
            }
        } finally {
            leave();
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

    /** Bytes of pinned host memory the idle streams keep for their next sessions. */
    public long idlePinnedBytes() {
        synchronized (idleStreams) {
            return idlePinned;
        }
    }

    /** Frees the pool's cached blocks (for example after an out-of-memory failure, before retrying). */
    public void trimPool() {
        if (lost != null || !gate.tryEnter()) {
            return;
        }
        try {
            pool.trim();
        } finally {
            leave();
        }
    }

    /** Whether {@link #close} was called (the backend may still be finishing its open sessions). */
    public boolean isClosed() {
        return gate.closing();
    }

    /** Whether a sticky failure has made the context unusable. */
    public boolean contextLost() {
        return lost != null;
    }

    /** The device's free memory as the driver sees it now (all processes), bytes. */
    public long freeDeviceMemory() {
        try (Use use = use()) {
            long[] free = new long[1];
            long[] total = new long[1];
            DriverCalls.check(
                    "cuMemGetInfo", CudaResults.Phase.OTHER, label, () -> JCudaDriver.cuMemGetInfo(free, total));
            return free[0];
        }
    }

    /**
     * Refuses new sessions and calls, and frees everything and releases the context once the last
     * open session has closed: here, when none is open (a failure of the freeing is thrown), else
     * in that session's close (a failure then is kept in {@link #deferredTeardownFailure}, not
     * thrown at a task whose work is done). Idempotent. After a lost context, the frees are skipped
     * (the driver would refuse them) and only the context reference is dropped.
     */
    @Override
    public void close() {
        gate.close();
    }

    /** What freeing the backend threw when the last session's close did it; null when nothing (yet). */
    public RuntimeException deferredTeardownFailure() {
        return deferredTeardownFailure;
    }

    /** Frees everything and releases the context; run once by {@link #gate}, with no user left. */
    private void teardown() {
        RuntimeException failure = null;
        if (lost == null) {
            try (PrimaryContext.Scope scope = context.enter()) {
                synchronized (idleStreams) {
                    for (SessionStream s : idleStreams) {
                        s.close();
                    }
                    idleStreams.clear();
                    idlePinned = 0;
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

    /**
     * Takes back a session's idle stream for the next session; its pinned buffer goes with it
     * only while the idle streams' pinned bytes stay within {@link #IDLE_PINNED_CAP}. A stream of
     * a lost context is abandoned with the context. Called before the session {@link #leave}s,
     * so the teardown (which destroys the idle streams) cannot have run.
     */
    void recycle(SessionStream s) {
        if (lost != null) {
            return;
        }
        boolean keepPinned;
        synchronized (idleStreams) {
            keepPinned = idlePinned + s.pinnedBytes() <= IDLE_PINNED_CAP;
            if (keepPinned) {
                idlePinned += s.pinnedBytes();
            }
        }
        if (!keepPinned) {
            // cuMemFreeHost may wait for the device: outside the lock.
            try (PrimaryContext.Scope scope = context.enter()) {
                s.releasePinned();
            } catch (RuntimeException e) {
                s.closeQuietly();
                throw e;
            }
        }
        synchronized (idleStreams) {
            idleStreams.push(s);
        }
    }

    /**
     * Ends a session's or a call's use of the backend; the last one after {@link #close} frees it.
     * A failure of that freeing is kept, not thrown: the use's own work is done.
     */
    void leave() {
        try {
            gate.exit();
        } catch (RuntimeException e) {
            deferredTeardownFailure = e;
        }
    }

    /** Records a sticky failure; returns it for rethrowing. */
    KernelFailureException lose(KernelFailureException e) {
        if (e.contextLost() && lost == null) {
            lost = e;
        }
        return e;
    }

    /** Throws the earlier sticky failure, if any. */
    void checkUsable() {
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

    private IllegalStateException closed() {
        return new IllegalStateException("the CUDA backend of " + label + " is closed");
    }

    /** A transient use: admitted by the gate, checked usable, the context current until closed. */
    private Use use() {
        if (!gate.tryEnter()) {
            throw closed();
        }
        try {
            checkUsable();
            return new Use(context.enter());
        } catch (RuntimeException | Error e) {
            leave();
            throw e;
        }
    }

    /** One transient use of the backend on one thread; see {@link #use}. */
    private final class Use implements AutoCloseable {
        private final PrimaryContext.Scope scope;

        Use(PrimaryContext.Scope scope) {
            this.scope = scope;
        }

        @Override
        public void close() {
            try {
                scope.close();
            } finally {
                leave();
            }
        }
    }
}

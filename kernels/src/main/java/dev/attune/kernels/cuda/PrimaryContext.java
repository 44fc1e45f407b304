package dev.attune.kernels.cuda;

import dev.attune.kernels.device.DeviceInfo;
import java.nio.file.Path;
import jcuda.LibUtils;
import jcuda.driver.CUcontext;
import jcuda.driver.CUctx_flags;
import jcuda.driver.CUdevice;
import jcuda.driver.JCudaDriver;

/**
 * One reference on a device's primary context, the context the CUDA runtime and every library in
 * the process share for that device (so Attune coexists with, say, a PyTorch or RAPIDS user of
 * the same GPU in one JVM, and pays for one context per device, not one per backend).
 *
 * <p>Lifecycle: {@link #retain} takes a reference (creating the context on first use);
 * {@link #close} drops it; the driver destroys the context when the last reference goes.
 *
 * <p>Threading: a context is current per thread, and Spark reuses task threads, so another GPU user
 * on the same thread (RAPIDS, a UDF on PyTorch) must find the context it left there. Every entry
 * point that talks to the driver therefore {@link #enter}s: the calling thread's current context is
 * saved, this one made current, and the saved one restored when the {@link Scope} closes. Any
 * thread may use the backend. Thread-safe.
 */
final class PrimaryContext implements AutoCloseable {

    private final Driver driver;
    private final CUdevice device;
    private final CUcontext context;
    private final String label;
    private boolean closed;

    private PrimaryContext(Driver driver, CUdevice device, CUcontext context, String label) {
        this.driver = driver;
        this.device = device;
        this.context = context;
        this.label = label;
    }

    /**
     * The driver calls that open, bind and release a primary context, apart from JCuda so that
     * their order (the scheduling flag set before the first retain, the thread's previous context
     * restored after each entry point) is checked without a GPU. Each returns its {@code CUresult}.
     * Context handles are compared with {@code equals}.
     */
    interface Driver {
        int init();

        int deviceGet(CUdevice device, int ordinal);

        /** {@code flags[0]}: the context's flags; {@code active[0]}: 1 when some user holds it. */
        int primaryCtxGetState(CUdevice device, int[] flags, int[] active);

        int primaryCtxSetFlags(CUdevice device, int flags);

        /** {@code out[0]}: the retained context. */
        int primaryCtxRetain(CUcontext[] out, CUdevice device);

        int primaryCtxRelease(CUdevice device);

        /** {@code out[0]}: the calling thread's current context, a null handle when it has none. */
        int ctxGetCurrent(CUcontext[] out);

        /** Makes {@code context} current on the calling thread; a null handle unbinds. */
        int ctxSetCurrent(CUcontext context);
    }

    /** The real driver, through JCuda. */
    static final Driver JCUDA = new Driver() {
        @Override
        public int init() {
            return JCudaDriver.cuInit(0);
        }

        @Override
        public int deviceGet(CUdevice device, int ordinal) {
            return JCudaDriver.cuDeviceGet(device, ordinal);
        }

        @Override
        public int primaryCtxGetState(CUdevice device, int[] flags, int[] active) {
            return JCudaDriver.cuDevicePrimaryCtxGetState(device, flags, active);
        }

        @Override
        public int primaryCtxSetFlags(CUdevice device, int flags) {
            return JCudaDriver.cuDevicePrimaryCtxSetFlags(device, flags);
        }

        @Override
        public int primaryCtxRetain(CUcontext[] out, CUdevice device) {
            out[0] = new CUcontext();
            return JCudaDriver.cuDevicePrimaryCtxRetain(out[0], device);
        }

        @Override
        public int primaryCtxRelease(CUdevice device) {
            return JCudaDriver.cuDevicePrimaryCtxRelease(device);
        }

        @Override
        public int ctxGetCurrent(CUcontext[] out) {
            out[0] = new CUcontext();
            return JCudaDriver.cuCtxGetCurrent(out[0]);
        }

        @Override
        public int ctxSetCurrent(CUcontext context) {
            return JCudaDriver.cuCtxSetCurrent(context);
        }
    };

    /**
     * Loads JCuda's native library if needed, initializes the driver and retains the primary
     * context of {@code gpu.ordinal()}.
     *
     * @throws CudaException when the driver refuses
     */
    static PrimaryContext retain(DeviceInfo gpu) {
        if (!gpu.isGpu() || gpu.simulated()) {
            throw new IllegalArgumentException("a CUDA backend needs a real GPU, not " + gpu.label());
        }
        stageNativeLibrary();
        return retain(gpu, JCUDA);
    }

    /**
     * As {@link #retain(DeviceInfo)} through {@code driver}. Before the first retain, while no
     * user holds the primary context, its scheduling is set to blocking synchronisation: a thread
     * waiting for the GPU then sleeps instead of spinning (the default spins, and every task
     * thread in {@code cuStreamSynchronize} would burn a core Spark gave to another task). A
     * context another library already holds keeps the flags it was made with.
     */
    static PrimaryContext retain(DeviceInfo gpu, Driver driver) {
        String label = gpu.label();
        DriverCalls.check("cuInit", CudaResults.Phase.OTHER, label, driver::init);
        CUdevice dev = new CUdevice();
        DriverCalls.check(
                "cuDeviceGet(" + gpu.ordinal() + ")",
                CudaResults.Phase.OTHER,
                label,
                () -> driver.deviceGet(dev, gpu.ordinal()));
        int[] flags = new int[1];
        int[] active = new int[1];
        DriverCalls.check(
                "cuDevicePrimaryCtxGetState",
                CudaResults.Phase.OTHER,
                label,
                () -> driver.primaryCtxGetState(dev, flags, active));
        if (active[0] == 0) {
            int blocking = (flags[0] & ~CUctx_flags.CU_CTX_SCHED_MASK) | CUctx_flags.CU_CTX_SCHED_BLOCKING_SYNC;
            DriverCalls.check(
                    "cuDevicePrimaryCtxSetFlags(CU_CTX_SCHED_BLOCKING_SYNC)",
                    CudaResults.Phase.OTHER,
                    label,
                    () -> driver.primaryCtxSetFlags(dev, blocking));
        }
        CUcontext[] ctx = new CUcontext[1];
        DriverCalls.check(
                "cuDevicePrimaryCtxRetain", CudaResults.Phase.OTHER, label, () -> driver.primaryCtxRetain(ctx, dev));
        return new PrimaryContext(driver, dev, ctx[0], label);
    }

    /**
     * Makes this context current on the calling thread until the returned scope closes, which puts
     * back the context the thread had before (none included). Scopes nest: an inner one on a thread
     * where this context is already current changes nothing. Use with try-with-resources, on one
     * thread.
     *
     * @throws CudaException when the driver refuses to read or switch the current context
     */
    Scope enter() {
        CUcontext[] previous = new CUcontext[1];
        DriverCalls.check("cuCtxGetCurrent", CudaResults.Phase.OTHER, label, () -> driver.ctxGetCurrent(previous));
        if (context.equals(previous[0])) {
            return Scope.UNCHANGED;
        }
        DriverCalls.check("cuCtxSetCurrent", CudaResults.Phase.OTHER, label, () -> driver.ctxSetCurrent(context));
        return new Scope(this, previous[0]);
    }

    /**
     * This context current on one thread, from {@link #enter} until {@link #close}, which restores
     * the thread's previous context. Confined to the thread that entered it.
     */
    static final class Scope implements AutoCloseable {
        /** The scope of an {@link #enter} that found this context already current: closing does nothing. */
        static final Scope UNCHANGED = new Scope(null, null);

        private final PrimaryContext owner;
        private final CUcontext previous;

        private Scope(PrimaryContext owner, CUcontext previous) {
            this.owner = owner;
            this.previous = previous;
        }

        /**
         * Restores the thread's previous context.
         *
         * @throws CudaException when the driver refuses (the thread then keeps this context current)
         */
        @Override
        public void close() {
            if (owner != null) {
                DriverCalls.check(
                        "cuCtxSetCurrent(previous context)",
                        CudaResults.Phase.OTHER,
                        owner.label,
                        () -> owner.driver.ctxSetCurrent(previous));
            }
        }
    }

    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        // Entry points restore the previous context when they leave, so no thread is left with
        // this one current by Attune; the driver tolerates releasing a current primary context.
        DriverCalls.check(
                "cuDevicePrimaryCtxRelease", CudaResults.Phase.OTHER, label, () -> driver.primaryCtxRelease(device));
    }

    /**
     * Puts JCuda's JNI library in place the same way {@link JCudaDeviceQuery} does, for backends
     * opened without a probe first (tests, tools); a no-op once it is there.
     */
    private static void stageNativeLibrary() {
        String file = JCudaDeviceQuery.driverLibraryFileName();
        NativeLibraryStaging.stage(
                Path.of(System.getProperty("java.io.tmpdir"), file),
                () -> LibUtils.class.getResourceAsStream("/lib/" + file));
    }
}

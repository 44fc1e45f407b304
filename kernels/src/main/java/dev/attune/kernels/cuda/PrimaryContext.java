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
 * <p>Threading: a context is current per thread. {@link #bind} makes it current on the calling
 * thread; every entry point that talks to the driver binds first, so any thread may use the
 * backend. Thread-safe.
 */
final class PrimaryContext implements AutoCloseable {

    private final CUdevice device;
    private final CUcontext context;
    private final String label;
    private boolean closed;

    private PrimaryContext(CUdevice device, CUcontext context, String label) {
        this.device = device;
        this.context = context;
        this.label = label;
    }

    /**
     * The driver calls that open a primary context, apart from JCuda so that their order (the
     * scheduling flag set before the first retain) is checked without a GPU. Each returns its
     * {@code CUresult}.
     */
    interface Driver {
        int init();

        int deviceGet(CUdevice device, int ordinal);

        /** {@code flags[0]}: the context's flags; {@code active[0]}: 1 when some user holds it. */
        int primaryCtxGetState(CUdevice device, int[] flags, int[] active);

        int primaryCtxSetFlags(CUdevice device, int flags);

        int primaryCtxRetain(CUcontext context, CUdevice device);
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
        public int primaryCtxRetain(CUcontext context, CUdevice device) {
            return JCudaDriver.cuDevicePrimaryCtxRetain(context, device);
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
        CUcontext ctx = new CUcontext();
        DriverCalls.check(
                "cuDevicePrimaryCtxRetain", CudaResults.Phase.OTHER, label, () -> driver.primaryCtxRetain(ctx, dev));
        return new PrimaryContext(dev, ctx, label);
    }

    /** Makes the context current on the calling thread. */
    void bind() {
        DriverCalls.check(
                "cuCtxSetCurrent", CudaResults.Phase.OTHER, label, () -> JCudaDriver.cuCtxSetCurrent(context));
    }

    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        // A thread that still has the context current keeps a dangling handle only until it binds
        // another; the driver tolerates releasing a current primary context.
        DriverCalls.check(
                "cuDevicePrimaryCtxRelease",
                CudaResults.Phase.OTHER,
                label,
                () -> JCudaDriver.cuDevicePrimaryCtxRelease(device));
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

package dev.attune.kernels.cuda;

import dev.attune.kernels.device.DeviceInfo;
import java.nio.file.Path;
import jcuda.LibUtils;
import jcuda.driver.CUcontext;
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
     * Loads JCuda's native library if needed, initializes the driver and retains the primary
     * context of {@code gpu.ordinal()}.
     *
     * @throws CudaException when the driver refuses
     */
    static PrimaryContext retain(DeviceInfo gpu) {
        if (!gpu.isGpu() || gpu.simulated()) {
            throw new IllegalArgumentException("a CUDA backend needs a real GPU, not " + gpu.label());
        }
        String label = gpu.label();
        stageNativeLibrary();
        DriverCalls.check("cuInit", CudaResults.Phase.OTHER, label, () -> JCudaDriver.cuInit(0));
        CUdevice dev = new CUdevice();
        DriverCalls.check(
                "cuDeviceGet(" + gpu.ordinal() + ")",
                CudaResults.Phase.OTHER,
                label,
                () -> JCudaDriver.cuDeviceGet(dev, gpu.ordinal()));
        CUcontext ctx = new CUcontext();
        DriverCalls.check(
                "cuDevicePrimaryCtxRetain",
                CudaResults.Phase.OTHER,
                label,
                () -> JCudaDriver.cuDevicePrimaryCtxRetain(ctx, dev));
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

package dev.attune.kernels.device;

import java.util.List;

/**
 * Access to the devices of one driver. {@link GpuProbe} loads the implementation
 * ({@code dev.attune.kernels.cuda.JCudaDeviceQuery}) by name, only after it has found a driver
 * library, so that nothing outside {@code dev.attune.kernels.cuda} links against JCuda.
 *
 * <p>Lifecycle: an implementation has a public no-argument constructor that touches no native
 * code; native libraries are loaded on the first call to {@link #devices()}. Threading: callers
 * serialize calls ({@link GpuProbe} does). Failure: methods throw {@link DeviceQueryException}
 * with a readable message for driver errors; a missing or unloadable native library surfaces as
 * {@link LinkageError} ({@link UnsatisfiedLinkError}, {@link NoClassDefFoundError}), which the
 * caller must catch.
 */
public interface DeviceQuery {

    /**
     * Every device the driver shows (after the driver applied {@code CUDA_VISIBLE_DEVICES}), in
     * driver ordinal order. Creates no CUDA context, so it takes no device memory and does not
     * disturb devices that belong to other processes.
     */
    List<DriverDevice> devices() throws DeviceQueryException;

    /**
     * Free bytes on the device with driver ordinal {@code ordinal}, read inside the device's
     * primary context (retained for the reading and released afterwards). The figure therefore
     * already excludes the memory a context of this process takes. The calling thread's current
     * context is restored.
     */
    long freeMemory(int ordinal) throws DeviceQueryException;

    /** Remarks gathered while loading (e.g. native library staging problems); "" when none. */
    default String notes() {
        return "";
    }
}

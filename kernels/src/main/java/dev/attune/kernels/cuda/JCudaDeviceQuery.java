package dev.attune.kernels.cuda;

import dev.attune.kernels.device.ComputeCapability;
import dev.attune.kernels.device.DeviceInfo;
import dev.attune.kernels.device.DeviceQuery;
import dev.attune.kernels.device.DeviceQueryException;
import dev.attune.kernels.device.DriverDevice;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import jcuda.CudaException;
import jcuda.JCudaVersion;
import jcuda.LibUtils;
import jcuda.driver.CUcontext;
import jcuda.driver.CUdevice;
import jcuda.driver.CUdevice_attribute;
import jcuda.driver.CUuuid;
import jcuda.driver.JCudaDriver;

/**
 * The devices of the CUDA driver, read through JCuda's driver API. This is the one class of Attune
 * that refers to JCuda's driver binding; {@link dev.attune.kernels.device.GpuProbe} loads it by
 * name only after it has found {@code libcuda.so.1}, so that machines without a driver never load
 * JCuda's native code.
 *
 * <p>Lifecycle: constructing touches no native code. The first {@link #devices()} call stages
 * JCuda's JNI library ({@link NativeLibraryStaging}), loads it (JCuda's static initializer; an
 * {@link UnsatisfiedLinkError} there is permanent for this class loader: later uses of JCuda throw
 * {@link NoClassDefFoundError}), turns JCuda exceptions on, and calls {@code cuInit(0)}.
 *
 * <p>Threading: not thread-safe; callers serialize. {@link #freeMemory} makes the device's primary
 * context current on the calling thread for the reading and restores the thread's previous
 * context afterwards.
 *
 * <p>Failure: driver errors come out as {@link DeviceQueryException} with the call and a readable
 * explanation ({@link CudaErrorText}); native loading problems as {@link LinkageError}.
 */
public final class JCudaDeviceQuery implements DeviceQuery {

    /** Lowest driver API version accepted: JCuda 12.6 is built against CUDA 12 entry points. */
    public static final int MIN_DRIVER_VERSION = 12000;

    private String notes = "";

    public JCudaDeviceQuery() {
        // no native code here
    }

    @Override
    public List<DriverDevice> devices() throws DeviceQueryException {
        stageNativeLibrary();
        JCudaDriver.setExceptionsEnabled(true);
        int driverVersion = call("cuDriverGetVersion", () -> {
            int[] v = new int[1];
            JCudaDriver.cuDriverGetVersion(v);
            return v[0];
        });
        if (driverVersion < MIN_DRIVER_VERSION) {
            // Entry points JCuda 12.6 links may be missing from older drivers; calling one would end the process.
            throw new DeviceQueryException("the NVIDIA driver supports CUDA " + versionString(driverVersion)
                    + "; Attune's JCuda " + JCudaVersion.get() + " needs a driver for CUDA 12.0 or newer (R525+)");
        }
        call("cuInit", () -> JCudaDriver.cuInit(0));
        int count = call("cuDeviceGetCount", () -> {
            int[] n = new int[1];
            JCudaDriver.cuDeviceGetCount(n);
            return n[0];
        });
        List<DriverDevice> out = new ArrayList<>(count);
        for (int ordinal = 0; ordinal < count; ordinal++) {
            out.add(describe(ordinal, driverVersion));
        }
        return out;
    }

    private DriverDevice describe(int ordinal, int driverVersion) throws DeviceQueryException {
        CUdevice dev = device(ordinal);
        String where = "device " + ordinal;
        String name = call(where + " cuDeviceGetName", () -> {
            byte[] buf = new byte[256];
            JCudaDriver.cuDeviceGetName(buf, buf.length, dev);
            int len = 0;
            while (len < buf.length && buf[len] != 0) {
                len++;
            }
            return new String(buf, 0, len, StandardCharsets.UTF_8).strip();
        });
        // JCuda 12.6 binds only cuDeviceGetUuid (not _v2), which gives a MIG instance its parent
        // GPU's UUID; DeviceSelection matches MIG addresses through CUDA_VISIBLE_DEVICES instead.
        String uuid = call(where + " cuDeviceGetUuid", () -> {
            CUuuid u = new CUuuid();
            JCudaDriver.cuDeviceGetUuid(u, dev);
            return formatUuid(u.bytes);
        });
        int major = attribute(dev, where, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR);
        int minor = attribute(dev, where, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR);
        int sms = attribute(dev, where, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT);
        int smem = attribute(dev, where, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN);
        int domain = attribute(dev, where, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_PCI_DOMAIN_ID);
        int bus = attribute(dev, where, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_PCI_BUS_ID);
        int slot = attribute(dev, where, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_PCI_DEVICE_ID);
        long total = call(where + " cuDeviceTotalMem", () -> {
            long[] t = new long[1];
            JCudaDriver.cuDeviceTotalMem(t, dev);
            return t[0];
        });
        DeviceInfo info = new DeviceInfo(
                DeviceInfo.Kind.GPU,
                name.isEmpty() ? "cuda:" + ordinal : name,
                ordinal,
                pciBusId(domain, bus, slot),
                new ComputeCapability(major, minor),
                total,
                total,
                sms,
                smem,
                driverVersion,
                false);
        return new DriverDevice(info, uuid);
    }

    @Override
    public long freeMemory(int ordinal) throws DeviceQueryException {
        CUdevice dev = device(ordinal);
        String where = "device " + ordinal;
        CUcontext previous = new CUcontext();
        call(where + " cuCtxGetCurrent", () -> JCudaDriver.cuCtxGetCurrent(previous));
        CUcontext primary = new CUcontext();
        call(where + " cuDevicePrimaryCtxRetain", () -> JCudaDriver.cuDevicePrimaryCtxRetain(primary, dev));
        try {
            call(where + " cuCtxSetCurrent", () -> JCudaDriver.cuCtxSetCurrent(primary));
            return call(where + " cuMemGetInfo", () -> {
                long[] free = new long[1];
                long[] total = new long[1];
                JCudaDriver.cuMemGetInfo(free, total);
                return free[0];
            });
        } finally {
            try {
                JCudaDriver.cuCtxSetCurrent(previous);
            } catch (CudaException e) {
                // the thread keeps the primary context current; releasing below still drops our reference
            }
            try {
                JCudaDriver.cuDevicePrimaryCtxRelease(dev);
            } catch (CudaException e) {
                // nothing more to do: the reference is lost with the failure
            }
        }
    }

    /**
     * Remarks from the last {@link #devices()} call: native library staging problems, and a
     * warning when the CUDA JIT cache is off or in a temporary directory ({@link PtxJitCache}).
     */
    @Override
    public String notes() {
        return notes;
    }

    /** The JNI library's file name, e.g. "libJCudaDriver-12.6.0-linux-x86_64.so". */
    static String driverLibraryFileName() {
        return LibUtils.createLibraryFileName(LibUtils.createPlatformLibraryName("JCudaDriver-" + JCudaVersion.get()));
    }

    private void stageNativeLibrary() {
        String file = driverLibraryFileName();
        Path target = Path.of(System.getProperty("java.io.tmpdir"), file);
        String staging = NativeLibraryStaging.stage(target, () -> LibUtils.class.getResourceAsStream("/lib/" + file));
        // The JIT cache the driver is about to set up at cuInit; only a cache that will not serve
        // later processes is worth a note (it costs seconds per module on every executor start).
        String cache = PtxJitCache.current().warningLine().orElse("");
        notes = staging.isEmpty() ? cache : cache.isEmpty() ? staging : staging + "; " + cache;
    }

    private static CUdevice device(int ordinal) throws DeviceQueryException {
        CUdevice dev = new CUdevice();
        call("cuDeviceGet(" + ordinal + ")", () -> JCudaDriver.cuDeviceGet(dev, ordinal));
        return dev;
    }

    private static int attribute(CUdevice dev, String where, int attribute) throws DeviceQueryException {
        return call(where + " cuDeviceGetAttribute(" + attribute + ")", () -> {
            int[] v = new int[1];
            JCudaDriver.cuDeviceGetAttribute(v, attribute, dev);
            return v[0];
        });
    }

    /** The driver's bus id form, "0000:3b:00.0". */
    static String pciBusId(int domain, int bus, int device) {
        return String.format(Locale.ROOT, "%04x:%02x:%02x.0", domain, bus, device);
    }

    /** "GPU-" and the 16 bytes as 8-4-4-4-12 lower-case hex, as nvidia-smi prints them; "" when absent. */
    static String formatUuid(byte[] b) {
        if (b == null || b.length < 16) {
            return "";
        }
        StringBuilder sb = new StringBuilder("GPU-");
        for (int i = 0; i < 16; i++) {
            if (i == 4 || i == 6 || i == 8 || i == 10) {
                sb.append('-');
            }
            sb.append(String.format(Locale.ROOT, "%02x", b[i] & 0xff));
        }
        return sb.toString();
    }

    private static String versionString(int v) {
        return (v / 1000) + "." + (v % 1000) / 10;
    }

    @FunctionalInterface
    private interface DriverCall<T> {
        T run();
    }

    /** Runs a driver call, turning a {@link CudaException} into a readable {@link DeviceQueryException}. */
    private static <T> T call(String what, DriverCall<T> c) throws DeviceQueryException {
        try {
            return c.run();
        } catch (CudaException e) {
            throw new DeviceQueryException(CudaErrorText.describe(what, e.getMessage()), e);
        }
    }
}

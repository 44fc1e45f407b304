package dev.attune.kernels.cuda;

import dev.attune.kernels.cuda.launch.LaunchShape;
import dev.attune.kernels.device.DeviceInfo;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import jcuda.Pointer;
import jcuda.driver.CUfunction;
import jcuda.driver.CUfunction_attribute;
import jcuda.driver.CUjit_option;
import jcuda.driver.CUmodule;
import jcuda.driver.JCudaDriver;
import jcuda.driver.JITOptions;

/**
 * The PTX modules of one backend, JIT-compiled by the driver on first use, and their functions.
 *
 * <p>A module is loaded once ({@code cuModuleLoadDataEx} with an error log buffer, so a refusal
 * carries the JIT's own words) and stays until {@link #close}. A module the driver refused stays
 * refused: the same {@link KernelUnavailableException} is raised again without another JIT run.
 * The driver caches compiled PTX on disk ({@code ~/.nv/ComputeCache}), so later processes load
 * quickly.
 *
 * <p>Dynamic shared memory above the 48 KiB every device grants needs an opt-in per function
 * ({@code CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES}); it is set the first time a launch
 * needs it (and raised if a later launch of the same function needs more), and refused when the
 * function's static plus dynamic shared memory exceeds what a block of this device may opt in to.
 *
 * <p>Threading: thread-safe. Lookups of known functions take no lock; loading and opting in are
 * serialized. Callers bind the context before calling.
 */
final class PtxModuleCache implements AutoCloseable {

    /** Shared memory a block gets without opting in. */
    static final int DEFAULT_SHARED_LIMIT = 48 * 1024;

    private static final int JIT_LOG_BYTES = 16 * 1024;

    /** A function and the dynamic shared memory it is opted in to. */
    private static final class Kernel {
        final CUfunction function;
        final int staticShared;
        volatile int optedIn = DEFAULT_SHARED_LIMIT;

        Kernel(CUfunction function, int staticShared) {
            this.function = function;
            this.staticShared = staticShared;
        }
    }

    private final DeviceInfo device;
    private final String label;
    private final Map<String, CUmodule> modules = new HashMap<>();
    private final Map<String, KernelUnavailableException> refused = new HashMap<>();
    private final ConcurrentHashMap<String, Kernel> kernels = new ConcurrentHashMap<>();

    PtxModuleCache(DeviceInfo device) {
        this.device = device;
        this.label = device.label();
    }

    /**
     * The function of {@code shape.kernel()} in {@code module}, ready to launch with the shape's
     * dynamic shared memory.
     *
     * @throws KernelUnavailableException when the module is missing or refused, has no such
     *                                    function, or the shape needs more shared memory than the device has
     */
    CUfunction function(String module, LaunchShape shape) {
        String key = module + '/' + shape.kernel();
        Kernel k = kernels.get(key);
        if (k == null) {
            k = load(module, shape.kernel(), key);
        }
        if (shape.sharedBytes() > k.optedIn) {
            optIn(module, shape, k);
        }
        return k.function;
    }

    private synchronized Kernel load(String module, String kernel, String key) {
        Kernel k = kernels.get(key);
        if (k != null) {
            return k;
        }
        CUmodule m = module(module);
        CUfunction f = new CUfunction();
        int r = DriverCalls.result(() -> JCudaDriver.cuModuleGetFunction(f, m, kernel));
        if (r != CudaResults.SUCCESS) {
            throw new KernelUnavailableException(
                    "PTX module '" + module + "' has no kernel " + kernel + " (" + CudaResults.name(r)
                            + "); the shipped PTX and the launch tables disagree",
                    module,
                    r,
                    CudaResults.name(r),
                    label,
                    null);
        }
        int[] staticShared = new int[1];
        DriverCalls.check(
                "cuFuncGetAttribute(" + kernel + ", SHARED_SIZE_BYTES)",
                CudaResults.Phase.LOAD,
                label,
                module,
                () -> JCudaDriver.cuFuncGetAttribute(
                        staticShared, CUfunction_attribute.CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES, f));
        k = new Kernel(f, staticShared[0]);
        kernels.put(key, k);
        return k;
    }

    private synchronized void optIn(String module, LaunchShape shape, Kernel k) {
        int want = shape.sharedBytes();
        if (want <= k.optedIn) {
            return;
        }
        int limit = device.sharedMemoryPerBlock();
        if ((long) want + k.staticShared > limit) {
            throw new KernelUnavailableException(
                    shape.kernel() + " needs " + want + " bytes of dynamic shared memory"
                            + (k.staticShared > 0 ? " plus " + k.staticShared + " static" : "") + " per block; " + label
                            + " (" + device.capability().smName() + ") allows at most " + limit,
                    module,
                    CudaException.NO_RESULT,
                    "",
                    label,
                    null);
        }
        DriverCalls.check(
                "cuFuncSetAttribute(" + shape.kernel() + ", MAX_DYNAMIC_SHARED_SIZE_BYTES, " + want + ")",
                CudaResults.Phase.LOAD,
                label,
                module,
                () -> JCudaDriver.cuFuncSetAttribute(
                        k.function, CUfunction_attribute.CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, want));
        k.optedIn = want;
    }

    /** The loaded module; JIT-compiles it on first use. Called under the lock. */
    private CUmodule module(String module) {
        CUmodule m = modules.get(module);
        if (m != null) {
            return m;
        }
        KernelUnavailableException before = refused.get(module);
        if (before != null) {
            throw before;
        }
        try {
            m = jit(module);
        } catch (KernelUnavailableException e) {
            refused.put(module, e);
            throw e;
        }
        modules.put(module, m);
        return m;
    }

    private CUmodule jit(String module) {
        byte[] ptx = PtxResources.read(module, label);
        JITOptions options = new JITOptions();
        // JCuda hands the byte array to the driver as the log buffer and copies it back after the call.
        options.putBytes(CUjit_option.CU_JIT_ERROR_LOG_BUFFER, new byte[JIT_LOG_BYTES]);
        options.putInt(CUjit_option.CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES, JIT_LOG_BYTES);
        CUmodule m = new CUmodule();
        int r = DriverCalls.result(() -> JCudaDriver.cuModuleLoadDataJIT(m, Pointer.to(ptx), options));
        if (r == CudaResults.SUCCESS) {
            return m;
        }
        String log = jitLog(options.getBytes(CUjit_option.CU_JIT_ERROR_LOG_BUFFER));
        int driver = device.driverVersion() > 0 ? device.driverVersion() : DriverCalls.driverVersion();
        String what = "cuModuleLoadDataEx(" + module + ") for "
                + device.capability().smName() + " with driver " + (driver / 1000) + "." + (driver % 1000) / 10;
        String hint = switch (r) {
            case CudaResults.UNSUPPORTED_PTX_VERSION ->
                "; the PTX ISA of this module is newer than the driver"
                        + " supports: update the NVIDIA driver or ship PTX of a lower .version";
            case CudaResults.NO_BINARY_FOR_GPU -> "; the module's .target is newer than this GPU";
            case CudaResults.INVALID_PTX -> "; the driver's JIT rejected the PTX";
            default -> "";
        };
        CudaException e = CudaResults.exception(r, what, CudaResults.Phase.LOAD, label, 0, module, null);
        String message = e.getMessage() + hint + (log.isEmpty() ? "" : "; JIT log: " + log);
        if (e instanceof KernelUnavailableException) {
            throw new KernelUnavailableException(message, module, r, e.resultName(), label, null);
        }
        if (e instanceof GpuOutOfMemoryException) {
            throw e; // not the module's fault; do not remember it as refused
        }
        if (e instanceof KernelFailureException kf) {
            throw new KernelFailureException(message, r, e.resultName(), label, kf.contextLost(), null);
        }
        throw new KernelUnavailableException(message, module, r, e.resultName(), label, null);
    }

    private static String jitLog(byte[] buffer) {
        if (buffer == null) {
            return "";
        }
        int n = 0;
        while (n < buffer.length && buffer[n] != 0) {
            n++;
        }
        return new String(buffer, 0, n, StandardCharsets.UTF_8).strip().replace('\n', ' ');
    }

    /** Unloads every module; the functions become invalid. Callers bind the context first. */
    @Override
    public synchronized void close() {
        kernels.clear();
        for (CUmodule m : modules.values()) {
            DriverCalls.result(() -> JCudaDriver.cuModuleUnload(m));
        }
        modules.clear();
        refused.clear();
    }
}

package dev.attune.kernels.cuda;

import dev.attune.kernels.cuda.launch.LaunchShape;
import dev.attune.kernels.device.DeviceInfo;
import dev.attune.kernels.ptx.PtxModuleInfo;
import dev.attune.kernels.ptx.ShippedPtx;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Collectors;
import jcuda.Pointer;
import jcuda.driver.CUfunction;
import jcuda.driver.CUfunction_attribute;
import jcuda.driver.CUjit_option;
import jcuda.driver.CUmodule;
import jcuda.driver.JCudaDriver;
import jcuda.driver.JITOptions;

/**
 * The PTX modules of one backend, JIT-compiled by the driver once each, and their functions.
 *
 * <p>Loading: a module is loaded once ({@code cuModuleLoadDataEx} with an error log buffer, so a
 * refusal carries the JIT's own words), by {@link #preload} when the device opens or else by the
 * first launch that needs it, and stays until {@link #close}. The PTX goes to the driver in a
 * direct buffer ({@link PtxResources#read}), so the JIT, which takes seconds for a large module
 * on a cold cache, does not hold a JNI critical section (a pinned {@code byte[]} would stop
 * garbage collection in the whole JVM meanwhile). A module the driver refused, or whose PTX is
 * missing, stays refused: the same {@link KernelUnavailableException} is raised again without
 * another JIT run. A failure that is not the module's fault (out of memory, a lost context) is
 * not remembered; the next request tries again. The driver keeps compiled PTX in its JIT cache
 * on disk ({@link PtxJitCache}), so later processes on the node load quickly.
 *
 * <p>Dynamic shared memory above the 48 KiB every device grants needs an opt-in per function
 * ({@code CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES}); it is set the first time a launch
 * needs it (and raised if a later launch of the same function needs more), and refused when the
 * function's static plus dynamic shared memory exceeds what a block of this device may opt in to.
 *
 * <p>Threading: thread-safe. Lookups of known functions take no lock. Each module has its own
 * once-only load: different modules JIT in parallel on different threads; a thread asking for a
 * module another thread is compiling waits for that compilation (uninterruptibly: an interrupt
 * stays pending until the JIT returns) and gets its module or its failure. Opting in is
 * serialized per function. Every thread that calls in must have the backend's context current.
 *
 * <p>Lifecycle: {@link #close} waits for compilations in progress, then unloads every module;
 * requests after it throw {@link IllegalStateException}.
 */
final class PtxModuleCache implements AutoCloseable {

    /** Shared memory a block gets without opting in. */
    static final int DEFAULT_SHARED_LIMIT = 48 * 1024;

    static final int JIT_LOG_BYTES = 16 * 1024;

    /**
     * The driver calls the cache makes, apart from JCuda so that the once-only loading is checked
     * without a GPU. Each returns its {@code CUresult}; implementations are thread-safe.
     */
    interface Driver {
        /** {@code cuModuleLoadDataEx} of a NUL-terminated PTX image with {@code options}. */
        int moduleLoadData(CUmodule module, ByteBuffer image, JITOptions options);

        int moduleGetFunction(CUfunction function, CUmodule module, String name);

        int funcGetAttribute(int[] value, int attribute, CUfunction function);

        int funcSetAttribute(CUfunction function, int attribute, int value);

        int moduleUnload(CUmodule module);
    }

    /** The real driver, through JCuda. */
    static final Driver JCUDA = new Driver() {
        @Override
        public int moduleLoadData(CUmodule module, ByteBuffer image, JITOptions options) {
            if (!image.isDirect()) {
                // A heap buffer would be pinned critically for the whole JIT, which is what this avoids.
                throw new IllegalArgumentException("PTX image must be a direct buffer");
            }
            // JCuda passes the direct buffer's address as it is (GetDirectBufferAddress, no pin). The
            // error log byte[] is copied to native memory before the call and back after it, each
            // under a critical section of a 16 KiB copy, not for the duration of the JIT.
            return JCudaDriver.cuModuleLoadDataJIT(module, Pointer.to(image), options);
        }

        @Override
        public int moduleGetFunction(CUfunction function, CUmodule module, String name) {
            return JCudaDriver.cuModuleGetFunction(function, module, name);
        }

        @Override
        public int funcGetAttribute(int[] value, int attribute, CUfunction function) {
            return JCudaDriver.cuFuncGetAttribute(value, attribute, function);
        }

        @Override
        public int funcSetAttribute(CUfunction function, int attribute, int value) {
            return JCudaDriver.cuFuncSetAttribute(function, attribute, value);
        }

        @Override
        public int moduleUnload(CUmodule module) {
            return JCudaDriver.cuModuleUnload(module);
        }
    };

    /** Where the PTX of a module comes from: a direct, NUL-terminated image. */
    @FunctionalInterface
    interface Source {
        ByteBuffer ptx(String module, String device);
    }

    /** A function and the dynamic shared memory it is opted in to. */
    private static final class Kernel {
        final CUfunction function;
        final int staticShared;
        /** Written under this kernel's monitor, read without it. */
        volatile int optedIn = DEFAULT_SHARED_LIMIT;

        Kernel(CUfunction function, int staticShared) {
            this.function = function;
            this.staticShared = staticShared;
        }
    }

    /**
     * How one module of a {@link #preload} went.
     *
     * @param module  the module
     * @param nanos   time until it was loaded or refused (including any wait for another thread's JIT)
     * @param failure null when loaded; else the refusal or the failure
     */
    record Loaded(String module, long nanos, RuntimeException failure) {
        boolean ok() {
            return failure == null;
        }
    }

    private final DeviceInfo device;
    private final String label;
    private final Driver driver;
    private final Source source;
    /**
     * One future per module ever requested: completed with the module, or exceptionally with a
     * remembered refusal. Futures of failures that are not remembered are removed again. Entries
     * are only added under {@link #lifecycle} while not {@link #closed}, so {@link #close} sees
     * every module that will ever load.
     */
    private final ConcurrentHashMap<String, CompletableFuture<CUmodule>> modules = new ConcurrentHashMap<>();

    private final ConcurrentHashMap<String, Kernel> kernels = new ConcurrentHashMap<>();
    private final Object lifecycle = new Object();
    private boolean closed;

    PtxModuleCache(DeviceInfo device) {
        this(device, JCUDA, PtxResources::read);
    }

    PtxModuleCache(DeviceInfo device, Driver driver, Source source) {
        this.device = device;
        this.label = device.label();
        this.driver = driver;
        this.source = source;
    }

    /**
     * The shipped modules {@code gpu} can load: those whose {@code .target} is at most its
     * compute capability and, where the driver version is known, whose PTX ISA the driver's JIT
     * accepts. Empty when the manifest cannot be read (the failure is reported where kernels are
     * chosen, {@code KernelSupport}).
     */
    static List<String> modulesFor(DeviceInfo gpu) {
        List<PtxModuleInfo> shipped;
        try {
            shipped = ShippedPtx.get().modules();
        } catch (RuntimeException e) {
            return List.of();
        }
        return shipped.stream()
                .filter(m -> m.targetCapability().compareTo(gpu.capability()) <= 0)
                .filter(m -> gpu.driverVersion() <= 0 || m.minDriverVersion() <= gpu.driverVersion())
                .map(PtxModuleInfo::module)
                .collect(Collectors.toList());
    }

    /**
     * JIT-compiles (or loads from the driver's cache) each of {@code names} that is not loaded
     * yet, one after another on the calling thread, which must have the context current. Never
     * throws for a module: each outcome is in the result, and refusals are remembered as for a
     * launch. Modules another thread is compiling are waited for.
     *
     * @throws IllegalStateException when the cache is closed
     */
    List<Loaded> preload(Collection<String> names) {
        List<Loaded> out = new ArrayList<>(names.size());
        for (String name : names) {
            long start = System.nanoTime();
            RuntimeException failure = null;
            try {
                module(name);
            } catch (IllegalStateException e) {
                throw e;
            } catch (RuntimeException e) {
                failure = e;
            }
            out.add(new Loaded(name, System.nanoTime() - start, failure));
        }
        return out;
    }

    /**
     * Runs {@link #preload} of {@link #modulesFor this device's modules} on a new daemon thread,
     * which first runs {@code bindContext} (making the backend's context current on it). Returns
     * at once; the future completes with the outcomes, or exceptionally when binding failed or the
     * cache was closed first. Launches meanwhile wait only for the module they need, and only if
     * the thread is compiling it at that moment.
     */
    CompletableFuture<List<Loaded>> preloadInBackground(Runnable bindContext) {
        CompletableFuture<List<Loaded>> done = new CompletableFuture<>();
        Thread t = new Thread(
                () -> {
                    try {
                        bindContext.run();
                        done.complete(preload(modulesFor(device)));
                    } catch (RuntimeException | Error e) {
                        done.completeExceptionally(e);
                    }
                },
                "attune-ptx-" + label);
        t.setDaemon(true);
        t.start();
        return done;
    }

    /**
     * The function of {@code shape.kernel()} in {@code module}, ready to launch with the shape's
     * dynamic shared memory.
     *
     * @throws KernelUnavailableException when the module is missing or refused, has no such
     *                                    function, or the shape needs more shared memory than the device has
     * @throws IllegalStateException      when the cache is closed
     */
    CUfunction function(String module, LaunchShape shape) {
        String key = module + '/' + shape.kernel();
        Kernel k = kernels.get(key);
        if (k == null) {
            CUmodule m = module(module);
            // The lookup is two short driver calls; a racing thread doing the same finds the same
            // function, and the map keeps whichever came first.
            Kernel found = lookup(m, module, shape.kernel());
            Kernel raced = kernels.putIfAbsent(key, found);
            k = raced == null ? found : raced;
        }
        if (shape.sharedBytes() > k.optedIn) {
            optIn(module, shape, k);
        }
        return k.function;
    }

    private Kernel lookup(CUmodule m, String module, String kernel) {
        CUfunction f = new CUfunction();
        int r = DriverCalls.result(() -> driver.moduleGetFunction(f, m, kernel));
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
                () -> driver.funcGetAttribute(
                        staticShared, CUfunction_attribute.CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES, f));
        return new Kernel(f, staticShared[0]);
    }

    private void optIn(String module, LaunchShape shape, Kernel k) {
        synchronized (k) {
            int want = shape.sharedBytes();
            if (want <= k.optedIn) {
                return;
            }
            int limit = device.sharedMemoryPerBlock();
            if ((long) want + k.staticShared > limit) {
                throw new KernelUnavailableException(
                        shape.kernel() + " needs " + want + " bytes of dynamic shared memory"
                                + (k.staticShared > 0 ? " plus " + k.staticShared + " static" : "") + " per block; "
                                + label + " (" + device.capability().smName() + ") allows at most " + limit,
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
                    () -> driver.funcSetAttribute(
                            k.function, CUfunction_attribute.CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, want));
            k.optedIn = want;
        }
    }

    /**
     * The loaded module. The first thread to ask JIT-compiles it on its own stack, holding no
     * lock; later threads wait on its future.
     */
    private CUmodule module(String module) {
        CompletableFuture<CUmodule> f = modules.get(module);
        if (f == null) {
            CompletableFuture<CUmodule> mine = new CompletableFuture<>();
            synchronized (lifecycle) {
                if (closed) {
                    throw new IllegalStateException("the PTX modules of " + label + " are closed");
                }
                f = modules.putIfAbsent(module, mine);
            }
            if (f == null) {
                compile(module, mine);
                f = mine;
            }
        }
        try {
            return f.join();
        } catch (CompletionException e) {
            // The very exception the compiling thread raised, so a remembered refusal is the same instance.
            Throwable cause = e.getCause();
            if (cause instanceof RuntimeException re) {
                throw re;
            }
            if (cause instanceof Error err) {
                throw err;
            }
            throw e;
        }
    }

    private void compile(String module, CompletableFuture<CUmodule> mine) {
        try {
            mine.complete(jit(module));
        } catch (KernelUnavailableException e) {
            mine.completeExceptionally(e); // stays refused
        } catch (RuntimeException | Error e) {
            // Not the module's fault: forget the attempt so the next request tries again; threads
            // already waiting on this attempt get its failure.
            modules.remove(module, mine);
            mine.completeExceptionally(e);
        }
    }

    private CUmodule jit(String module) {
        ByteBuffer ptx = source.ptx(module, label);
        JITOptions options = new JITOptions();
        // JCuda copies the byte array to native memory for the driver's log and copies it back after the call.
        options.putBytes(CUjit_option.CU_JIT_ERROR_LOG_BUFFER, new byte[JIT_LOG_BYTES]);
        options.putInt(CUjit_option.CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES, JIT_LOG_BYTES);
        CUmodule m = new CUmodule();
        int r = DriverCalls.result(() -> driver.moduleLoadData(m, ptx, options));
        if (r == CudaResults.SUCCESS) {
            return m;
        }
        String log = jitLog(options.getBytes(CUjit_option.CU_JIT_ERROR_LOG_BUFFER));
        int version = device.driverVersion() > 0 ? device.driverVersion() : DriverCalls.driverVersion();
        String what = "cuModuleLoadDataEx(" + module + ") for "
                + device.capability().smName() + " with driver " + (version / 1000) + "." + (version % 1000) / 10;
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

    /**
     * Waits for compilations in progress (a module may not be unloaded, nor the context released,
     * while the driver is still loading into it), then unloads every module; the functions become
     * invalid. Callers bind the context first and make sure no launch is still in progress.
     * Idempotent: a second call returns at once.
     */
    @Override
    public void close() {
        synchronized (lifecycle) {
            if (closed) {
                return;
            }
            closed = true;
        }
        // No entry is added from here on (see module()), so this visits every module that loads.
        for (CompletableFuture<CUmodule> f : modules.values()) {
            CUmodule m;
            try {
                m = f.join();
            } catch (CompletionException | CancellationException e) {
                continue; // refused or failed: nothing was loaded
            }
            DriverCalls.result(() -> driver.moduleUnload(m));
        }
        modules.clear();
        kernels.clear();
    }
}

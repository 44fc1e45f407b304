package dev.attune.kernels.device;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Finds the GPUs this process may compute on: the ones Spark assigned, as the CUDA driver
 * describes them, with their free memory.
 *
 * <h2>Steps</h2>
 * <ol>
 *   <li>{@link DriverLocator} looks for {@code libcuda.so.1}. Without it the answer is
 *       {@link ProbeResult#none} with the locator's reason, and no JCuda class is loaded.</li>
 *   <li>{@code dev.attune.kernels.cuda.JCudaDeviceQuery} is loaded by name and lists the devices
 *       the driver shows (no CUDA context is created for this).</li>
 *   <li>{@link DeviceSelection} picks the devices Spark assigned.</li>
 *   <li>Each picked device's free memory is read inside its primary context, which is released
 *       again. Only picked devices are touched, so executors sharing a host do not create contexts
 *       on each other's GPUs. A device that cannot be read (busy in exclusive mode, out of memory,
 *       ECC failure) is left out and named in the reason.</li>
 *   <li>The query's notes end the reason: native library staging problems, and a warning when
 *       the CUDA JIT cache is off or in a temporary directory.</li>
 * </ol>
 *
 * <h2>Contract</h2>
 * <ul>
 *   <li>Lifecycle: stateless apart from the JVM-wide state of JCuda itself. Loading JCuda's
 *       native library happens at most once per class loader; if it fails, later probes report
 *       that first failure again (JCuda cannot be loaded a second time in the same class loader).
 *       Each call queries the driver afresh; cache the result where one reading suffices (an
 *       executor plugin's {@code init}).</li>
 *   <li>Threading: thread-safe; calls are serialized on a JVM-wide lock because driver calls
 *       change the calling thread's current context for a moment. Expect tens of milliseconds
 *       per device for the context, and up to seconds on a first call on some hosts (driver
 *       initialization, persistence mode off).</li>
 *   <li>Failure: never throws and never ends the JVM for a missing or broken driver, a missing
 *       JCuda jar, native libraries that do not load, or driver errors; all become a
 *       {@link ProbeResult} without devices and with a reason. Only {@link VirtualMachineError}s
 *       (out of memory and the like) propagate.</li>
 *   <li>Environment: the {@code env} map is where {@code CUDA_VISIBLE_DEVICES} and
 *       {@code LD_LIBRARY_PATH} are read for the locator and for the explanations; the driver
 *       itself always sees this process's real environment, so pass {@link System#getenv()}
 *       outside tests.</li>
 * </ul>
 */
public final class GpuProbe {

    /** The one class that links against JCuda; loaded by name. */
    public static final String QUERY_CLASS = "dev.attune.kernels.cuda.JCudaDeviceQuery";

    private static final Object LOCK = new Object();
    /** The first failure to load JCuda's native code in this class loader, or null. */
    private static volatile String firstLoadFailure;

    private GpuProbe() {}

    /** The assigned devices, with this process's environment. Never throws. */
    public static ProbeResult probe(List<String> assignedAddresses) {
        return probe(assignedAddresses, System.getenv());
    }

    /** The assigned devices ({@code null} or empty: all visible), with {@code env} as described above. Never throws. */
    public static ProbeResult probe(List<String> assignedAddresses, Map<String, String> env) {
        Map<String, String> e = env == null ? Map.of() : env;
        return probe(assignedAddresses, e, DriverLocator.forEnvironment(e), GpuProbe::loadQuery);
    }

    /** The steps of the class comment with the locator and the query source given; for tests. */
    static ProbeResult probe(
            List<String> assigned, Map<String, String> env, DriverLocator locator, Callable<DeviceQuery> querySource) {
        try {
            DriverLocator.Result driver = locator.locate();
            if (!driver.found()) {
                return ProbeResult.none(driver.reason());
            }
            synchronized (LOCK) {
                return probeDriver(assigned, env, driver, querySource);
            }
        } catch (VirtualMachineError e) {
            throw e;
        } catch (Throwable t) {
            return ProbeResult.none("GPU probe failed: " + describe(t));
        }
    }

    private static ProbeResult probeDriver(
            List<String> assigned,
            Map<String, String> env,
            DriverLocator.Result driver,
            Callable<DeviceQuery> querySource) {
        String cvd = DeviceSelection.explainCudaVisibleDevices(env, -1);
        DeviceQuery query;
        try {
            query = querySource.call();
        } catch (VirtualMachineError e) {
            throw e;
        } catch (Throwable t) {
            return ProbeResult.none(join("cannot load Attune's CUDA device query", describe(t)));
        }
        List<DriverDevice> visible;
        try {
            visible = query.devices();
        } catch (VirtualMachineError e) {
            throw e;
        } catch (Throwable t) {
            String why = describe(t);
            if (t instanceof LinkageError && !(t instanceof NoClassDefFoundError) && firstLoadFailure == null) {
                firstLoadFailure = why;
            }
            return ProbeResult.none(
                    join(driver.reason() + " found, but the device query failed: " + why, cvd, safeNotes(query)));
        }
        if (visible.isEmpty()) {
            return ProbeResult.none(join(
                    driver.reason() + " found, but the driver shows no CUDA device",
                    DeviceSelection.explainCudaVisibleDevices(env, 0)));
        }
        ProbeResult selected = DeviceSelection.select(visible, assigned, env);
        List<DeviceInfo> measured = new ArrayList<>();
        List<String> leftOut = new ArrayList<>();
        for (DeviceInfo d : selected.devices()) {
            try {
                measured.add(d.withFreeMemory(query.freeMemory(d.ordinal())));
            } catch (VirtualMachineError e) {
                throw e;
            } catch (Throwable t) {
                leftOut.add(d.label() + " left out: " + describe(t));
            }
        }
        return new ProbeResult(measured, join(selected.reason(), String.join("; ", leftOut), safeNotes(query)));
    }

    /** Loads {@link #QUERY_CLASS} through this class's loader and instantiates it. */
    private static DeviceQuery loadQuery() throws ReflectiveOperationException {
        Class<?> c = Class.forName(QUERY_CLASS, true, GpuProbe.class.getClassLoader());
        return c.asSubclass(DeviceQuery.class).getDeclaredConstructor().newInstance();
    }

    private static final Pattern SHARED_OBJECT =
            Pattern.compile("([\\w.+-]+\\.so[.\\d]*): (cannot open shared object file[^\\n]*)");
    private static final Pattern UNDEFINED_SYMBOL = Pattern.compile("undefined symbol: (\\S+)");

    /** One readable line for anything the query can throw. */
    static String describe(Throwable t) {
        Throwable root = t;
        if (root instanceof java.lang.reflect.InvocationTargetException ite && ite.getCause() != null) {
            root = ite.getCause();
        }
        if (root instanceof ExceptionInInitializerError eie && eie.getCause() != null) {
            root = eie.getCause();
        }
        String msg = root.getMessage() == null ? "" : root.getMessage();
        if (root instanceof DeviceQueryException) {
            return msg;
        }
        if (root instanceof UnsatisfiedLinkError) {
            Matcher so = SHARED_OBJECT.matcher(msg);
            if (so.find()) {
                return "JCuda's driver binding did not load: " + so.group(1) + ": " + so.group(2);
            }
            Matcher sym = UNDEFINED_SYMBOL.matcher(msg);
            if (sym.find()) {
                return "JCuda's driver binding did not load: the NVIDIA driver lacks " + sym.group(1)
                        + " (driver too old for CUDA 12)";
            }
            return "JCuda's driver binding did not load: " + firstLine(msg);
        }
        if (root instanceof NoClassDefFoundError || root instanceof ClassNotFoundException) {
            if (msg.contains("Could not initialize class")) {
                String first = firstLoadFailure;
                return "JCuda's driver binding failed to load earlier in this JVM"
                        + (first == null ? " (" + firstLine(msg) + ")" : ": " + first);
            }
            return "a class is missing (" + firstLine(msg).replace('/', '.') + "); is the jcuda jar on the classpath?";
        }
        if (root.getClass().getName().equals("jcuda.CudaException")) {
            return "CUDA driver error " + msg;
        }
        return root.getClass().getSimpleName() + (msg.isEmpty() ? "" : ": " + firstLine(msg));
    }

    private static String firstLine(String s) {
        int nl = s.indexOf('\n');
        return (nl < 0 ? s : s.substring(0, nl)).strip();
    }

    private static String safeNotes(DeviceQuery q) {
        try {
            return q.notes() == null ? "" : q.notes();
        } catch (RuntimeException e) {
            return "";
        }
    }

    private static String join(String... parts) {
        List<String> kept = new ArrayList<>();
        for (String p : parts) {
            if (p != null && !p.isBlank()) {
                kept.add(p);
            }
        }
        return String.join("; ", kept);
    }
}

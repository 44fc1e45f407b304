package dev.attune.kernels.device;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

import java.io.IOException;
import java.lang.reflect.Method;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class GpuProbeTest {

    @TempDir
    Path tmp;

    private static final long GIB = 1L << 30;

    /** A locator that finds a (fake) driver library. */
    private DriverLocator withDriver() throws IOException {
        Path dir = Files.createDirectories(tmp.resolve("drv"));
        Files.createFile(dir.resolve("libcuda.so.1"));
        return new DriverLocator(List.of(dir), tmp.resolve("no-proc"));
    }

    private DriverLocator withoutDriver() throws IOException {
        return new DriverLocator(List.of(Files.createDirectories(tmp.resolve("empty"))), tmp.resolve("no-proc"));
    }

    /** A driver with fixed devices that records which ordinals it was asked to measure. */
    static class FakeQuery implements DeviceQuery {
        final List<DriverDevice> devices;
        final List<Integer> measured = new ArrayList<>();
        final Map<Integer, String> failures;

        FakeQuery(List<DriverDevice> devices, Map<Integer, String> failures) {
            this.devices = devices;
            this.failures = failures;
        }

        @Override
        public List<DriverDevice> devices() {
            return devices;
        }

        @Override
        public long freeMemory(int ordinal) throws DeviceQueryException {
            measured.add(ordinal);
            if (failures.containsKey(ordinal)) {
                throw new DeviceQueryException(failures.get(ordinal));
            }
            return (ordinal + 1) * GIB;
        }
    }

    static List<DriverDevice> twoGpus() {
        return List.of(
                DeviceSelectionTest.gpu(0, "Tesla T4", "0000:18:00.0", DeviceSelectionTest.UC),
                DeviceSelectionTest.gpu(1, "Tesla T4", "0000:3b:00.0", DeviceSelectionTest.UD));
    }

    @Test
    void noDriverMeansNoQuery() throws IOException {
        AtomicBoolean asked = new AtomicBoolean();
        ProbeResult r = GpuProbe.probe(List.of("0"), Map.of(), withoutDriver(), () -> {
            asked.set(true);
            return new FakeQuery(twoGpus(), Map.of());
        });
        assertFalse(asked.get(), "the device query must not be loaded without a driver");
        assertEquals(List.of(), r.devices());
        assertTrue(r.reason().startsWith("no NVIDIA driver: libcuda.so.1 not found in ["), r.reason());
    }

    @Test
    void measuresOnlyTheAssignedDevices() throws IOException {
        FakeQuery q = new FakeQuery(twoGpus(), Map.of());
        ProbeResult r = GpuProbe.probe(List.of("0000:3b:00.0"), Map.of(), withDriver(), () -> q);
        assertEquals(List.of(1), q.measured);
        assertEquals(1, r.devices().size());
        assertEquals(1, r.devices().get(0).ordinal());
        assertEquals(2 * GIB, r.devices().get(0).freeMemory());
        assertEquals("", r.reason());
    }

    @Test
    void theQuerysNotesEndTheReasonOfAProbeThatFoundDevices() throws IOException {
        String warning = "the CUDA JIT cache /tmp/x is in a temporary directory";
        FakeQuery q = new FakeQuery(twoGpus(), Map.of()) {
            @Override
            public String notes() {
                return warning;
            }
        };
        ProbeResult r = GpuProbe.probe(List.of("7", "0"), Map.of(), withDriver(), () -> q);
        assertEquals(1, r.devices().size());
        assertTrue(r.reason().startsWith("Spark assigned 7"), r.reason());
        assertTrue(r.reason().endsWith("; " + warning), r.reason());
    }

    @Test
    void aDeviceThatCannotBeMeasuredIsLeftOutWithItsReason() throws IOException {
        FakeQuery q =
                new FakeQuery(twoGpus(), Map.of(0, "device 0 cuDevicePrimaryCtxRetain: CUDA_ERROR_DEVICE_UNAVAILABLE"));
        ProbeResult r = GpuProbe.probe(List.of(), Map.of(), withDriver(), () -> q);
        assertEquals(List.of(0, 1), q.measured);
        assertEquals(List.of(1), r.devices().stream().map(DeviceInfo::ordinal).toList());
        assertEquals(
                "cuda:0 Tesla T4 left out: device 0 cuDevicePrimaryCtxRetain: CUDA_ERROR_DEVICE_UNAVAILABLE",
                r.reason());
    }

    @Test
    void selectionProblemsReachTheReason() throws IOException {
        ProbeResult r =
                GpuProbe.probe(List.of("0", "5"), Map.of(), withDriver(), () -> new FakeQuery(twoGpus(), Map.of()));
        assertEquals(1, r.devices().size());
        assertTrue(r.reason().contains("Spark assigned 5, which matches no visible device"), r.reason());
    }

    @Test
    void driverWithoutDevicesExplainsCudaVisibleDevices() throws IOException {
        ProbeResult r = GpuProbe.probe(
                List.of(), Map.of("CUDA_VISIBLE_DEVICES", ""), withDriver(), () -> new FakeQuery(List.of(), Map.of()));
        assertEquals(List.of(), r.devices());
        assertTrue(r.reason().contains("the driver shows no CUDA device"), r.reason());
        assertTrue(r.reason().contains("CUDA_VISIBLE_DEVICES='' hides every GPU"), r.reason());
    }

    @Test
    void driverErrorsBecomeReasons() throws IOException {
        DeviceQuery failing = new FakeQuery(List.of(), Map.of()) {
            @Override
            public List<DriverDevice> devices() {
                throw new IllegalStateException("boom");
            }
        };
        ProbeResult r = GpuProbe.probe(List.of(), Map.of("CUDA_VISIBLE_DEVICES", "-1"), withDriver(), () -> failing);
        assertEquals(List.of(), r.devices());
        assertTrue(r.reason().contains("the device query failed: IllegalStateException: boom"), r.reason());
        assertTrue(r.reason().contains("hides every GPU"), r.reason());
    }

    @Test
    void unloadableNativeCodeBecomesAReason() throws IOException {
        String libUtilsMessage = "Error while loading native library \"JCudaDriver-12.6.0-linux-x86_64\"\n"
                + "Operating system name: Linux\n---(start of nested stack traces)---\n"
                + "java.lang.UnsatisfiedLinkError: /tmp/libJCudaDriver-12.6.0-linux-x86_64.so: libcuda.so.1: "
                + "cannot open shared object file: No such file or directory\n\tat java.base/...";
        ProbeResult r = GpuProbe.probe(List.of(), Map.of(), withDriver(), () -> new FakeQuery(List.of(), Map.of()) {
            @Override
            public List<DriverDevice> devices() {
                throw new UnsatisfiedLinkError(libUtilsMessage);
            }
        });
        assertEquals(List.of(), r.devices());
        assertTrue(
                r.reason()
                        .contains("JCuda's driver binding did not load: libcuda.so.1: cannot open shared object "
                                + "file: No such file or directory"),
                r.reason());
        assertFalse(r.reason().contains("\n"), r.reason());
    }

    @Test
    void missingJCudaJarBecomesAReason() throws IOException {
        Callable<DeviceQuery> missing = () -> {
            throw new NoClassDefFoundError("jcuda/driver/JCudaDriver");
        };
        ProbeResult r = GpuProbe.probe(List.of(), Map.of(), withDriver(), missing);
        assertEquals(List.of(), r.devices());
        assertTrue(r.reason().contains("jcuda.driver.JCudaDriver"), r.reason());
        assertTrue(r.reason().contains("jcuda jar"), r.reason());
    }

    @Test
    void nullInputsAndABrokenQuerySourceDoNotEscape() throws IOException {
        ProbeResult r = GpuProbe.probe(null, null, withDriver(), () -> null);
        assertEquals(List.of(), r.devices());
        assertTrue(r.reason().contains("the device query failed: NullPointerException"), r.reason());
    }

    @Test
    void thisMachineHasNoGpuAndSaysWhy() {
        assumeFalse(DriverLocator.system().locate().found(), "a driver is installed here");
        ProbeResult r = GpuProbe.probe(List.of("0"));
        assertEquals(List.of(), r.devices());
        assertTrue(r.reason().contains("libcuda.so.1"), r.reason());
    }

    // ---- isolation: the JCuda query class must stay unloaded without a driver ----

    /** A class loader that sees only Attune's kernel classes and JCuda, so that what it loads can be inspected. */
    static final class IsolatedLoader extends URLClassLoader {
        IsolatedLoader(URL... urls) {
            super(urls, ClassLoader.getPlatformClassLoader());
        }

        boolean loaded(String name) {
            return findLoadedClass(name) != null;
        }
    }

    private static URL jarOf(String resource) throws IOException {
        URL u = ClassLoader.getSystemResource(resource);
        assertNotNull(u, resource + " is not on the test classpath");
        String s = u.toString();
        assertTrue(s.startsWith("jar:") && s.contains("!/"), s);
        return new URL(s.substring(4, s.indexOf("!/")));
    }

    private static IsolatedLoader isolated() throws IOException {
        URL classes = GpuProbe.class.getProtectionDomain().getCodeSource().getLocation();
        return new IsolatedLoader(
                classes, jarOf("jcuda/driver/JCudaDriver.class"), jarOf("lib/libJCudaDriver-12.6.0-linux-x86_64.so"));
    }

    private static Object[] probeIn(IsolatedLoader loader, List<String> addresses, Map<String, String> env)
            throws ReflectiveOperationException {
        Class<?> probe = Class.forName(GpuProbe.class.getName(), true, loader);
        assertEquals(loader, probe.getClassLoader());
        Method m = probe.getMethod("probe", List.class, Map.class);
        Object result = m.invoke(null, addresses, env);
        List<?> devices = (List<?>) result.getClass().getMethod("devices").invoke(result);
        String reason = (String) result.getClass().getMethod("reason").invoke(result);
        return new Object[] {devices, reason};
    }

    @Test
    void withoutADriverTheJCudaQueryIsNeverLoaded() throws Exception {
        Path empty = Files.createDirectories(tmp.resolve("nothing-here"));
        assumeFalse(
                DriverLocator.forEnvironment(Map.of("LD_LIBRARY_PATH", empty.toString()))
                        .locate()
                        .found(),
                "a driver is installed here");
        try (IsolatedLoader loader = isolated()) {
            Object[] r = probeIn(loader, List.of("0"), Map.of("LD_LIBRARY_PATH", empty.toString()));
            assertEquals(List.of(), r[0]);
            assertTrue(((String) r[1]).contains("libcuda.so.1 not found"), (String) r[1]);
            assertTrue(loader.loaded(GpuProbe.class.getName()));
            assertFalse(loader.loaded(GpuProbe.QUERY_CLASS));
            assertFalse(loader.loaded("jcuda.driver.JCudaDriver"));
        }
    }

    /**
     * The other side of the test above, which also shows its check can fail: when the locator is
     * fooled by a fake libcuda.so.1, the query class is loaded, JCuda's native library fails to
     * load for want of the real driver, and the probe still returns a reason instead of throwing,
     * on the first call and on later ones.
     */
    @Test
    void aFakeDriverLoadsTheQueryWhichFailsGracefully() throws Exception {
        assumeFalse(DriverLocator.system().locate().found(), "a real driver is installed here");
        Path fake = Files.createDirectories(tmp.resolve("fake"));
        Files.createFile(fake.resolve("libcuda.so.1"));
        Map<String, String> env = Map.of("LD_LIBRARY_PATH", fake.toString());
        try (IsolatedLoader loader = isolated()) {
            Object[] first = probeIn(loader, List.of(), env);
            assertTrue(loader.loaded(GpuProbe.QUERY_CLASS));
            assertEquals(List.of(), first[0]);
            String reason = (String) first[1];
            assertTrue(
                    reason.contains("found, but the device query failed: JCuda's driver binding did not load"), reason);
            assertTrue(reason.contains("libcuda.so.1"), reason);

            Object[] second = probeIn(loader, List.of(), env);
            assertEquals(List.of(), second[0]);
            String again = (String) second[1];
            assertTrue(
                    again.contains("failed to load earlier in this JVM: JCuda's driver binding did not load"), again);
        }
    }
}

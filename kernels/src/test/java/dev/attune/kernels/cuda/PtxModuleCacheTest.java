package dev.attune.kernels.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.attune.kernels.cuda.launch.LaunchShape;
import dev.attune.kernels.device.ComputeCapability;
import dev.attune.kernels.device.DeviceInfo;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import jcuda.driver.CUfunction;
import jcuda.driver.CUjit_option;
import jcuda.driver.CUmodule;
import jcuda.driver.JITOptions;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The once-only module loading of {@link PtxModuleCache}, with a stand-in for the driver (no GPU
 * here): the PTX reaches the driver as a direct, NUL-terminated image with an error log buffer;
 * different modules JIT at the same time; one module asked for by two threads JITs once; a
 * refusal is remembered and a failure that is not the module's is not; close waits for a JIT in
 * progress and unloads what loaded.
 */
@Timeout(30)
class PtxModuleCacheTest {

    private static final DeviceInfo GPU = new DeviceInfo(
            DeviceInfo.Kind.GPU,
            "NVIDIA A100",
            0,
            "0000:3b:00.0",
            ComputeCapability.SM80,
            40L << 30,
            39L << 30,
            108,
            163 * 1024,
            12060,
            false);

    private static final LaunchShape SHAPE = new LaunchShape("k", 1, 1, 1, 128, 0);

    private final ExecutorService pool = Executors.newFixedThreadPool(4);

    @AfterEach
    void stop() {
        pool.shutdownNow();
    }

    /** The PTX of a stand-in module: its name as text, NUL-terminated in a direct buffer. */
    static ByteBuffer ptxOf(String module, String device) {
        byte[] text = (".version 7.0 // " + module).getBytes(StandardCharsets.US_ASCII);
        ByteBuffer b = ByteBuffer.allocateDirect(text.length + 1);
        b.put(text).put((byte) 0).flip();
        return b;
    }

    /** The module a stand-in image names (the text after "// "). */
    static String moduleOf(ByteBuffer image) {
        ByteBuffer b = image.duplicate();
        byte[] all = new byte[b.remaining()];
        b.get(all);
        String s = new String(all, 0, all.length - 1, StandardCharsets.US_ASCII);
        return s.substring(s.indexOf("// ") + 3);
    }

    /**
     * Answers as a driver would; counts loads per module; {@code onLoad} may block or fail a load
     * (return its CUresult), and may write into the error log as the JIT does.
     */
    static class FakeDriver implements PtxModuleCache.Driver {
        final Map<String, AtomicInteger> loads = new ConcurrentHashMap<>();
        final List<CUmodule> unloaded = Collections.synchronizedList(new ArrayList<>());
        final List<String> images = Collections.synchronizedList(new ArrayList<>());
        final AtomicInteger setAttribute = new AtomicInteger();

        int onLoad(String module, JITOptions options) {
            return CudaResults.SUCCESS;
        }

        @Override
        public int moduleLoadData(CUmodule module, ByteBuffer image, JITOptions options) {
            assertTrue(image.isDirect(), "the PTX must reach the driver in a direct buffer");
            assertEquals(0, image.get(image.limit() - 1), "the PTX must be NUL-terminated");
            for (int i = image.position(); i < image.limit() - 1; i++) {
                assertTrue(image.get(i) != 0, "a NUL inside the PTX at " + i);
            }
            byte[] log = options.getBytes(CUjit_option.CU_JIT_ERROR_LOG_BUFFER);
            assertNotNull(log, "an error log buffer");
            assertEquals(log.length, options.getInt(CUjit_option.CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES));
            String name = moduleOf(image);
            images.add(name);
            loads.computeIfAbsent(name, n -> new AtomicInteger()).incrementAndGet();
            return onLoad(name, options);
        }

        @Override
        public int moduleGetFunction(CUfunction function, CUmodule module, String name) {
            return CudaResults.SUCCESS;
        }

        @Override
        public int funcGetAttribute(int[] value, int attribute, CUfunction function) {
            value[0] = 1024;
            return CudaResults.SUCCESS;
        }

        @Override
        public int funcSetAttribute(CUfunction function, int attribute, int value) {
            setAttribute.incrementAndGet();
            return CudaResults.SUCCESS;
        }

        @Override
        public int moduleUnload(CUmodule module) {
            unloaded.add(module);
            return CudaResults.SUCCESS;
        }

        int loads(String module) {
            AtomicInteger n = loads.get(module);
            return n == null ? 0 : n.get();
        }
    }

    private static PtxModuleCache cache(FakeDriver d) {
        return new PtxModuleCache(GPU, d, PtxModuleCacheTest::ptxOf);
    }

    /** Waits until {@code t} is parked (waiting on a future or latch), or fails. */
    private static void awaitParked(Thread t) throws InterruptedException {
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (t.getState() != Thread.State.WAITING && t.getState() != Thread.State.TIMED_WAITING) {
            assertTrue(System.nanoTime() < end, "thread never waited: " + t.getState());
            Thread.sleep(5);
        }
    }

    @Test
    void theShippedPtxReachesTheDriverDirectAndNulTerminated() throws Exception {
        AtomicReference<byte[]> seen = new AtomicReference<>();
        FakeDriver d = new FakeDriver() {
            @Override
            public int moduleLoadData(CUmodule module, ByteBuffer image, JITOptions options) {
                ByteBuffer b = image.duplicate();
                byte[] copy = new byte[b.remaining()];
                b.get(copy);
                seen.set(copy);
                assertTrue(image.isDirect(), "the PTX must reach the driver in a direct buffer");
                return CudaResults.SUCCESS;
            }
        };
        PtxModuleCache c = new PtxModuleCache(GPU, d, PtxResources::read);
        c.function("encoder_ops", SHAPE);
        byte[] text;
        try (var in = getClass().getClassLoader().getResourceAsStream(PtxResources.resource("encoder_ops"))) {
            text = in.readAllBytes();
        }
        byte[] image = seen.get();
        assertEquals(text.length + 1, image.length);
        assertEquals(0, image[text.length]);
        assertEquals(
                new String(text, StandardCharsets.US_ASCII),
                new String(image, 0, text.length, StandardCharsets.US_ASCII));
    }

    @Test
    void twoModulesJitAtTheSameTime() throws Exception {
        CountDownLatch bothLoading = new CountDownLatch(2);
        FakeDriver d = new FakeDriver() {
            @Override
            int onLoad(String module, JITOptions options) {
                bothLoading.countDown();
                try {
                    // Under one global lock the second load could not start, and this would time out.
                    return bothLoading.await(10, TimeUnit.SECONDS) ? CudaResults.SUCCESS : CudaResults.UNKNOWN;
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    return CudaResults.UNKNOWN;
                }
            }
        };
        PtxModuleCache c = cache(d);
        Future<CUfunction> a = pool.submit(() -> c.function("alpha", SHAPE));
        Future<CUfunction> b = pool.submit(() -> c.function("beta", SHAPE));
        assertNotNull(a.get(20, TimeUnit.SECONDS));
        assertNotNull(b.get(20, TimeUnit.SECONDS));
        assertEquals(1, d.loads("alpha"));
        assertEquals(1, d.loads("beta"));
    }

    @Test
    void oneModuleAskedForByTwoThreadsJitsOnce() throws Exception {
        CountDownLatch release = new CountDownLatch(1);
        CountDownLatch loading = new CountDownLatch(1);
        FakeDriver d = new FakeDriver() {
            @Override
            int onLoad(String module, JITOptions options) {
                loading.countDown();
                try {
                    release.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                return CudaResults.SUCCESS;
            }
        };
        PtxModuleCache c = cache(d);
        AtomicReference<CUfunction> first = new AtomicReference<>();
        AtomicReference<CUfunction> second = new AtomicReference<>();
        Thread t1 = new Thread(() -> first.set(c.function("flash", SHAPE)));
        t1.start();
        assertTrue(loading.await(10, TimeUnit.SECONDS));
        Thread t2 = new Thread(() -> second.set(c.function("flash", new LaunchShape("k", 2, 1, 1, 64, 0))));
        t2.start();
        awaitParked(t2); // waiting for t1's JIT, not running its own
        release.countDown();
        t1.join(10_000);
        t2.join(10_000);
        assertEquals(1, d.loads("flash"));
        assertNotNull(first.get());
        assertSame(first.get(), second.get(), "both threads get the one function");
    }

    @Test
    void aRefusalIsRememberedWithTheJitLog() {
        FakeDriver d = new FakeDriver() {
            @Override
            int onLoad(String module, JITOptions options) {
                byte[] log = options.getBytes(CUjit_option.CU_JIT_ERROR_LOG_BUFFER);
                byte[] text = "ptxas fatal   : Unsupported .version 9.9".getBytes(StandardCharsets.US_ASCII);
                System.arraycopy(text, 0, log, 0, text.length);
                return CudaResults.UNSUPPORTED_PTX_VERSION;
            }
        };
        PtxModuleCache c = cache(d);
        KernelUnavailableException e1 =
                assertThrows(KernelUnavailableException.class, () -> c.function("flash", SHAPE));
        assertTrue(e1.getMessage().contains("Unsupported .version 9.9"), e1.getMessage());
        assertTrue(e1.getMessage().contains("update the NVIDIA driver"), e1.getMessage());
        assertEquals("flash", e1.module());
        KernelUnavailableException e2 =
                assertThrows(KernelUnavailableException.class, () -> c.function("flash", SHAPE));
        assertSame(e1, e2);
        assertEquals(1, d.loads("flash"), "no second JIT of a refused module");
        List<PtxModuleCache.Loaded> out = c.preload(List.of("flash"));
        assertSame(e1, out.get(0).failure());
        assertEquals(1, d.loads("flash"));
    }

    @Test
    void missingPtxIsRememberedWithoutCallingTheDriver() {
        FakeDriver d = new FakeDriver();
        AtomicInteger reads = new AtomicInteger();
        PtxModuleCache c = new PtxModuleCache(GPU, d, (m, dev) -> {
            reads.incrementAndGet();
            return PtxResources.read("no_such_module", dev);
        });
        KernelUnavailableException e1 = assertThrows(KernelUnavailableException.class, () -> c.function("x", SHAPE));
        assertSame(e1, assertThrows(KernelUnavailableException.class, () -> c.function("x", SHAPE)));
        assertEquals(1, reads.get());
        assertTrue(d.images.isEmpty());
    }

    @Test
    void aFailureThatIsNotTheModulesIsTriedAgain() {
        AtomicInteger calls = new AtomicInteger();
        FakeDriver d = new FakeDriver() {
            @Override
            int onLoad(String module, JITOptions options) {
                return calls.incrementAndGet() == 1 ? CudaResults.OUT_OF_MEMORY : CudaResults.SUCCESS;
            }
        };
        PtxModuleCache c = cache(d);
        assertThrows(GpuOutOfMemoryException.class, () -> c.function("gemm", SHAPE));
        assertNotNull(c.function("gemm", SHAPE));
        assertEquals(2, d.loads("gemm"));
    }

    @Test
    void preloadLoadsEachModuleOnceAndLaunchesFindThemLoaded() {
        FakeDriver d = new FakeDriver() {
            @Override
            int onLoad(String module, JITOptions options) {
                return module.equals("bad") ? CudaResults.INVALID_PTX : CudaResults.SUCCESS;
            }
        };
        PtxModuleCache c = cache(d);
        List<PtxModuleCache.Loaded> out = c.preload(List.of("gemm", "bad", "flash"));
        assertEquals(
                List.of("gemm", "bad", "flash"),
                out.stream().map(PtxModuleCache.Loaded::module).toList());
        assertTrue(out.get(0).ok());
        assertFalse(out.get(1).ok());
        assertTrue(
                out.get(1).failure() instanceof KernelUnavailableException,
                String.valueOf(out.get(1).failure()));
        assertTrue(out.get(2).ok());
        c.function("gemm", SHAPE);
        c.function("flash", SHAPE);
        assertEquals(1, d.loads("gemm"));
        assertEquals(1, d.loads("flash"));
    }

    @Test
    void preloadInBackgroundBindsItsThreadFirst() throws Exception {
        FakeDriver d = new FakeDriver();
        PtxModuleCache c = new PtxModuleCache(GPU, d, PtxModuleCacheTest::ptxOf);
        AtomicReference<Thread> bound = new AtomicReference<>();
        List<PtxModuleCache.Loaded> out =
                c.preloadInBackground(() -> bound.set(Thread.currentThread())).get(20, TimeUnit.SECONDS);
        assertNotNull(bound.get());
        assertTrue(bound.get() != Thread.currentThread());
        assertTrue(bound.get().isDaemon());
        List<String> expected = PtxModuleCache.modulesFor(GPU);
        assertFalse(expected.isEmpty());
        assertEquals(expected, out.stream().map(PtxModuleCache.Loaded::module).toList());
        for (String m : expected) {
            assertEquals(1, d.loads(m), m);
        }
    }

    @Test
    void aFailedBindFailsTheBackgroundPreloadWithoutLoading() {
        FakeDriver d = new FakeDriver();
        PtxModuleCache c = cache(d);
        IllegalStateException boom = new IllegalStateException("no context");
        var f = c.preloadInBackground(() -> {
            throw boom;
        });
        var e = assertThrows(java.util.concurrent.ExecutionException.class, () -> f.get(20, TimeUnit.SECONDS));
        assertSame(boom, e.getCause());
        assertTrue(d.images.isEmpty());
    }

    @Test
    void modulesForLeaveOutModulesAboveTheDevice() {
        DeviceInfo t4 = new DeviceInfo(
                DeviceInfo.Kind.GPU,
                "Tesla T4",
                0,
                "",
                ComputeCapability.SM75,
                16L << 30,
                16L << 30,
                40,
                64 * 1024,
                12060,
                false);
        List<String> onT4 = PtxModuleCache.modulesFor(t4);
        List<String> onA100 = PtxModuleCache.modulesFor(GPU);
        assertTrue(onA100.contains("flash_sm80") && onA100.contains("flash_sm75"), onA100.toString());
        assertFalse(onT4.contains("flash_sm80"), onT4.toString());
        assertTrue(onT4.contains("flash_sm75") && onT4.contains("encoder_ops"), onT4.toString());
    }

    @Test
    void closeWaitsForAJitInProgressThenUnloadsIt() throws Exception {
        CountDownLatch release = new CountDownLatch(1);
        CountDownLatch loading = new CountDownLatch(1);
        FakeDriver d = new FakeDriver() {
            @Override
            int onLoad(String module, JITOptions options) {
                if (module.equals("slow")) {
                    loading.countDown();
                    try {
                        release.await();
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                }
                return CudaResults.SUCCESS;
            }
        };
        PtxModuleCache c = cache(d);
        c.function("fast", SHAPE);
        Thread loader = new Thread(() -> c.function("slow", SHAPE));
        loader.start();
        assertTrue(loading.await(10, TimeUnit.SECONDS));
        Thread closer = new Thread(c::close);
        closer.start();
        awaitParked(closer);
        assertTrue(d.unloaded.size() <= 1, "the slow module is not unloaded while it loads");
        release.countDown();
        closer.join(10_000);
        loader.join(10_000);
        assertFalse(closer.isAlive());
        assertEquals(2, d.unloaded.size(), "both modules unloaded");
        assertThrows(IllegalStateException.class, () -> c.function("other", SHAPE));
        c.close();
        assertEquals(2, d.unloaded.size(), "a second close unloads nothing again");
    }

    @Test
    void sharedMemoryIsOptedInOnceAndRefusedBeyondTheDevice() {
        FakeDriver d = new FakeDriver();
        PtxModuleCache c = cache(d);
        c.function("flash", new LaunchShape("k", 1, 1, 1, 128, 100 * 1024));
        c.function("flash", new LaunchShape("k", 1, 1, 1, 128, 90 * 1024));
        assertEquals(1, d.setAttribute.get());
        KernelUnavailableException e = assertThrows(
                KernelUnavailableException.class,
                () -> c.function("flash", new LaunchShape("k", 1, 1, 1, 128, 163 * 1024)));
        assertTrue(e.getMessage().contains("plus 1024 static"), e.getMessage());
        assertEquals(1, d.setAttribute.get(), "a refused opt-in does not reach the driver");
    }
}

package dev.attune.kernels.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.attune.kernels.cuda.launch.GemmLaunch;
import dev.attune.kernels.device.DeviceInfo;
import dev.attune.kernels.select.ComputeDtype;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import jcuda.driver.CUcontext;
import jcuda.driver.CUdevice;
import jcuda.driver.JCudaDriver;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The backend's lifecycle on a real GPU: entry points leave the thread's current context as they
 * found it (none, or another library's); a close with a session open frees only after that
 * session ends; modules load when the backend opens; uploads larger than a staging chunk arrive
 * intact; idle streams keep no more pinned memory than the cap; a thread waiting for the GPU
 * sleeps rather than spins.
 */
@Tag("gpu")
class CudaBackendLifecycleTest {

    private static DeviceInfo GPU;

    @BeforeAll
    static void probe() {
        GPU = GpuFixture.firstGpu();
    }

    private static CUcontext current() {
        CUcontext c = new CUcontext();
        assertEquals(CudaResults.SUCCESS, JCudaDriver.cuCtxGetCurrent(c));
        return c;
    }

    private static void roundTrip(CudaBackend b) {
        try (CudaSession s = b.session()) {
            float[] x = {1f, -2f, 3.5f};
            assertArrayEquals(x, s.download(s.upload(x, 0, x.length, ComputeDtype.FP32)));
        }
    }

    @Test
    void aThreadWithoutAContextHasNoneAfterUsingTheBackend() throws Exception {
        try (CudaBackend b = CudaBackend.open(GPU)) {
            CUcontext[] after = new CUcontext[1];
            Thread t = new Thread(() -> {
                roundTrip(b);
                b.resident(new float[1000], ComputeDtype.FP16);
                b.freeDeviceMemory();
                after[0] = current();
            });
            t.start();
            t.join();
            assertEquals(new CUcontext(), after[0], "the task thread is left without a current context");
        }
    }

    @Test
    void anotherLibrarysContextIsCurrentAgainAfterEachEntryPoint() {
        CUdevice dev = new CUdevice();
        assertEquals(CudaResults.SUCCESS, JCudaDriver.cuDeviceGet(dev, GPU.ordinal()));
        CUcontext theirs = new CUcontext();
        assertEquals(CudaResults.SUCCESS, JCudaDriver.cuCtxCreate(theirs, 0, dev));
        try (CudaBackend b = CudaBackend.open(GPU)) {
            assertEquals(CudaResults.SUCCESS, JCudaDriver.cuCtxSetCurrent(theirs));
            try (CudaSession s = b.session()) {
                assertEquals(theirs, current());
                GpuArray a = s.upload(new float[] {1f, 2f}, 0, 2, ComputeDtype.FP16);
                assertEquals(theirs, current());
                s.download(a);
                assertEquals(theirs, current());
            }
            assertEquals(theirs, current());
        } finally {
            JCudaDriver.cuCtxSetCurrent(new CUcontext());
            JCudaDriver.cuCtxDestroy(theirs);
        }
    }

    @Test
    void aCloseWithASessionOpenFreesOnlyAfterTheSessionEnds() {
        CudaBackend b = CudaBackend.open(GPU);
        b.resident(new float[1 << 20], ComputeDtype.FP32);
        CudaSession s = b.session();
        b.close();
        assertTrue(b.isClosed());
        assertThrows(IllegalStateException.class, b::session, "no new session after close");
        assertTrue(b.residentBytes() > 0, "nothing freed while a session is open");
        float[] x = {4f, 5f, 6f};
        assertArrayEquals(x, s.download(s.upload(x, 0, 3, ComputeDtype.FP32)), "the open session still works");
        s.close();
        assertEquals(0, b.residentBytes(), "the last session's close freed the backend");
        assertEquals(null, b.deferredTeardownFailure());
    }

    @Test
    void modulesAreLoadedWhenTheBackendOpens() {
        try (CudaBackend b = CudaBackend.open(GPU)) {
            List<PtxWarmup.Module> loaded = b.modulesLoaded().join();
            assertTrue(!loaded.isEmpty());
            for (PtxWarmup.Module m : loaded) {
                assertEquals("", m.failure(), m.module());
            }
        }
    }

    @Test
    void uploadsLongerThanAStagingChunkArriveIntact() {
        Random rnd = new Random(3);
        float[] host = new float[3 * CudaBackend.RESIDENT_CHUNK + 5];
        for (int i = 0; i < host.length; i++) {
            host[i] = rnd.nextFloat();
        }
        try (CudaBackend b = CudaBackend.open(GPU)) {
            GpuArray a = b.resident(host, ComputeDtype.FP32);
            try (CudaSession s = b.session()) {
                assertArrayEquals(host, s.download(a));
            }
            int[] ints = new int[SessionStream.MAX_CHUNK / Integer.BYTES * 2 + 3];
            for (int i = 0; i < ints.length; i++) {
                ints[i] = i * 7;
            }
            GpuArray ia = b.resident(ints);
            try (CudaSession s = b.session()) {
                assertArrayEquals(ints, s.downloadInts(ia));
            }
        }
    }

    @Test
    void idleStreamsKeepNoMorePinnedMemoryThanTheCap() {
        float[] big = new float[SessionStream.MAX_CHUNK / Float.BYTES];
        try (CudaBackend b = CudaBackend.open(GPU)) {
            List<CudaSession> open = new ArrayList<>();
            for (int i = 0; i < 3; i++) {
                CudaSession s = b.session();
                s.upload(big, 0, big.length, ComputeDtype.FP32); // grows its staging to the largest
                open.add(s);
            }
            open.forEach(CudaSession::close);
            assertTrue(
                    b.idlePinnedBytes() <= CudaBackend.IDLE_PINNED_CAP,
                    b.idlePinnedBytes() + " bytes pinned by idle streams");
            roundTrip(b);
        }
    }

    @Test
    void aThreadWaitingForTheGpuSleeps() {
        ThreadMXBean mx = ManagementFactory.getThreadMXBean();
        int n = 4096;
        try (CudaBackend b = CudaBackend.open(GPU);
                CudaSession s = b.session()) {
            GpuArray x = s.alloc(ComputeDtype.FP32, (long) n * n);
            GpuArray w = s.alloc(ComputeDtype.FP32, (long) n * n);
            GpuArray c = s.alloc(ComputeDtype.FP32, (long) n * n);
            s.zero(x);
            s.zero(w);
            long t = System.nanoTime();
            s.ops().gemm(x, w, null, c, n, n, n, GemmLaunch.EPILOGUE_NONE);
            s.synchronize();
            double oneMs = Math.max(0.05, (System.nanoTime() - t) / 1e6);
            int launches = (int) Math.min(2_000, Math.ceil(500 / oneMs));
            for (int i = 0; i < launches; i++) {
                s.ops().gemm(x, w, null, c, n, n, n, GemmLaunch.EPILOGUE_NONE);
            }
            long cpu0 = mx.getCurrentThreadCpuTime();
            long wall0 = System.nanoTime();
            s.synchronize();
            double wall = (System.nanoTime() - wall0) / 1e6;
            double cpu = (mx.getCurrentThreadCpuTime() - cpu0) / 1e6;
            System.out.printf("waited %.0f ms for %d GEMMs on %s, %.1f ms of CPU%n", wall, launches, GPU.label(), cpu);
            assertTrue(wall > 100, "the wait was too short to tell: " + wall + " ms");
            assertTrue(cpu < 0.25 * wall, "the waiting thread spun: " + cpu + " ms of CPU in " + wall + " ms");
        }
    }
}

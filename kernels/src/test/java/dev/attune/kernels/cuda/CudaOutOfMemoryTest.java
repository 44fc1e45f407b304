package dev.attune.kernels.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.attune.kernels.select.ComputeDtype;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/** Running out of device memory is an ordinary, recoverable failure. */
@Tag("gpu")
class CudaOutOfMemoryTest {

    private static final long GIB = 1L << 30;
    private static CudaBackend backend;

    @BeforeAll
    static void open() {
        backend = CudaBackend.open(GpuFixture.firstGpu());
    }

    @AfterAll
    static void close() {
        if (backend != null) {
            backend.close();
        }
    }

    private static void stillWorks() {
        assertFalse(backend.contextLost());
        try (CudaSession s = backend.session()) {
            float[] x = {1f, -2f, 3.5f};
            assertArrayEquals(x, s.download(s.upload(x, 0, x.length, ComputeDtype.FP32)));
        }
    }

    @Test
    void anAllocationBeyondFreeMemoryIsRefusedAndTheBackendStaysUsable() {
        long free = backend.freeDeviceMemory();
        try (CudaSession s = backend.session()) {
            GpuOutOfMemoryException e = assertThrows(
                    GpuOutOfMemoryException.class, () -> s.alloc(ComputeDtype.FP32, (free + 4 * GIB) / Float.BYTES));
            assertEquals("CUDA_ERROR_OUT_OF_MEMORY", e.resultName());
            assertTrue(e.requestedBytes() > free, e.getMessage());
            assertTrue(e.getMessage().contains(backend.device().label()), e.getMessage());
        }
        stillWorks();
    }

    @Test
    void aFullPoolIsFreedAndReusedAfterOutOfMemory() {
        try (CudaSession s = backend.session()) {
            List<GpuArray> held = new ArrayList<>();
            assertThrows(GpuOutOfMemoryException.class, () -> {
                while (true) {
                    held.add(s.alloc(ComputeDtype.FP32, GIB / Float.BYTES));
                }
            });
            assertFalse(held.isEmpty());
            s.zero(held.get(0));
            s.synchronize();
        }
        // The closed session's blocks are cached in the pool and fill the device. A request of
        // another size class makes the pool free its cache and retry.
        assertTrue(backend.cachedPoolBytes() >= GIB);
        try (CudaSession s = backend.session()) {
            GpuArray big = s.alloc(ComputeDtype.FP16, 3 * GIB / 2);
            s.zero(big);
            s.synchronize();
        }
        backend.trimPool();
        assertEquals(0, backend.cachedPoolBytes());
        stillWorks();
    }
}

package dev.attune.kernels.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class PtxResourcesTest {

    @Test
    void resourcePathOfAModule() {
        assertEquals("dev/attune/kernels/ptx/flash_sm80.ptx", PtxResources.resource("flash_sm80"));
    }

    @Test
    void aMissingModuleIsAnUnavailableKernelNamingIt() {
        KernelUnavailableException e = assertThrows(
                KernelUnavailableException.class, () -> PtxResources.read("no_such_module", "cuda:0 Test GPU"));
        assertEquals("no_such_module", e.module());
        assertEquals(CudaException.NO_RESULT, e.result());
        assertTrue(
                e.getMessage().contains("no_such_module") && e.getMessage().contains("cuda:0 Test GPU"),
                e.getMessage());
    }
}

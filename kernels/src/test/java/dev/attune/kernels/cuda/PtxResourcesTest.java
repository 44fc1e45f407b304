package dev.attune.kernels.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.InputStream;
import java.nio.ByteBuffer;
import org.junit.jupiter.api.Test;

class PtxResourcesTest {

    @Test
    void aModuleIsReadIntoADirectNulTerminatedBuffer() throws Exception {
        byte[] text;
        try (InputStream in = getClass().getClassLoader().getResourceAsStream(PtxResources.resource("flash_sm80"))) {
            text = in.readAllBytes();
        }
        ByteBuffer image = PtxResources.read("flash_sm80", "cuda:0 Test GPU");
        assertTrue(image.isDirect(), "a heap buffer would be pinned for the whole JIT");
        assertEquals(0, image.position());
        assertEquals(text.length + 1, image.limit());
        assertEquals(0, image.get(text.length), "the driver reads PTX up to a NUL");
        for (int i = 0; i < text.length; i++) {
            if (image.get(i) != text[i]) {
                throw new AssertionError("byte " + i + " differs from the resource");
            }
        }
        assertTrue(text.length > 1_000_000, "flash_sm80 is the large module: " + text.length);
    }

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

package dev.attune.kernels.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class CudaErrorTextTest {

    @Test
    void explainsKnownErrors() {
        String s = CudaErrorText.describe("cuInit", "CUDA_ERROR_NO_DEVICE");
        assertTrue(s.startsWith("cuInit: CUDA_ERROR_NO_DEVICE (the driver sees no CUDA device"), s);
        assertTrue(CudaErrorText.describe("cuInit", "CUDA_ERROR_STUB_LIBRARY").contains("stub"));
        assertTrue(CudaErrorText.describe("cuInit", "CUDA_ERROR_SYSTEM_DRIVER_MISMATCH")
                .contains("kernel module"));
    }

    @Test
    void keepsUnknownNames() {
        assertEquals(
                "cuMemGetInfo: CUDA_ERROR_SOMETHING_NEW",
                CudaErrorText.describe("cuMemGetInfo", "CUDA_ERROR_SOMETHING_NEW"));
        assertEquals("cuInit: unknown error", CudaErrorText.describe("cuInit", null));
    }
}

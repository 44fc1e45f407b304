package dev.attune.kernels.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class CudaResultsTest {

    private static final String DEV = "cuda:0 Test GPU";

    @Test
    void namesAndCodesRoundTrip() {
        assertEquals("CUDA_ERROR_ILLEGAL_ADDRESS", CudaResults.name(700));
        assertEquals(700, CudaResults.code("CUDA_ERROR_ILLEGAL_ADDRESS"));
        assertEquals(2, CudaResults.code(" CUDA_ERROR_OUT_OF_MEMORY\n"));
        assertEquals(1234, CudaResults.code("INVALID CUresult: 1234"));
        assertEquals("CUresult 1234", CudaResults.name(1234));
        assertEquals(1234, CudaResults.code(CudaResults.name(1234)));
        assertEquals(CudaResults.UNKNOWN, CudaResults.code("something else"));
        assertEquals(CudaResults.UNKNOWN, CudaResults.code(null));
    }

    @Test
    void outOfMemoryIsItsOwnKindAndCarriesTheRequest() {
        CudaException e =
                CudaResults.exception(2, "cuMemAlloc(4096)", CudaResults.Phase.ALLOCATE, DEV, 4096, null, null);
        GpuOutOfMemoryException oom = assertInstanceOf(GpuOutOfMemoryException.class, e);
        assertEquals(4096, oom.requestedBytes());
        assertEquals("CUDA_ERROR_OUT_OF_MEMORY", oom.resultName());
        assertEquals(DEV, oom.device());
        assertTrue(
                oom.getMessage().contains("cuMemAlloc(4096)")
                        && oom.getMessage().contains(DEV),
                oom.getMessage());
        // from a launch too
        assertInstanceOf(
                GpuOutOfMemoryException.class,
                CudaResults.exception(2, "cuLaunchKernel", CudaResults.Phase.LAUNCH, DEV, 0, null, null));
    }

    @Test
    void stickyErrorsLoseTheContext() {
        for (int code : new int[] {700, 702, 710, 714, 715, 716, 717, 718, 719, 721, 214, 220, 226, 999}) {
            CudaException e = CudaResults.exception(
                    code, "cuStreamSynchronize", CudaResults.Phase.SYNCHRONIZE, DEV, 0, null, null);
            KernelFailureException kf = assertInstanceOf(KernelFailureException.class, e, CudaResults.name(code));
            assertTrue(kf.contextLost(), CudaResults.name(code));
            assertTrue(CudaResults.contextLost(code));
            // sticky wherever reported
            assertTrue(assertInstanceOf(
                            KernelFailureException.class,
                            CudaResults.exception(code, "cuMemFree", CudaResults.Phase.OTHER, DEV, 0, null, null))
                    .contextLost());
        }
    }

    /**
     * A result newer than the table (a newer driver's) is a lost context when a synchronisation
     * reports it (the failed work cannot be named, so the context is not trusted), and a plain
     * failure elsewhere; CUDA 12.x/13.0 codes have their names.
     */
    @Test
    void unknownResultsAtASynchronisationLoseTheContext() {
        int newer = 1234;
        assertEquals("CUresult 1234", CudaResults.name(newer));
        KernelFailureException kf = assertInstanceOf(
                KernelFailureException.class,
                CudaResults.exception(newer, "cuStreamSynchronize", CudaResults.Phase.SYNCHRONIZE, DEV, 0, null, null));
        assertTrue(kf.contextLost());
        assertEquals(CudaResults.Failure.OTHER, CudaResults.classify(newer));
        assertFalse(assertInstanceOf(
                        KernelFailureException.class,
                        CudaResults.exception(newer, "cuLaunchKernel", CudaResults.Phase.LAUNCH, DEV, 0, null, null))
                .contextLost());
        assertEquals(
                CudaException.class,
                CudaResults.exception(newer, "cuMemAlloc", CudaResults.Phase.ALLOCATE, DEV, 0, null, null)
                        .getClass());
        // A known, harmless result at a synchronisation keeps the context.
        assertFalse(assertInstanceOf(
                        KernelFailureException.class,
                        CudaResults.exception(
                                CudaResults.INVALID_VALUE,
                                "cuStreamSynchronize",
                                CudaResults.Phase.SYNCHRONIZE,
                                DEV,
                                0,
                                null,
                                null))
                .contextLost());
        assertEquals("CUDA_ERROR_CONTAINED", CudaResults.name(226));
        assertEquals("CUDA_ERROR_TENSOR_MEMORY_LEAK", CudaResults.name(721));
        assertEquals("CUDA_ERROR_FUNCTION_NOT_LOADED", CudaResults.name(913));
        assertEquals(916, CudaResults.code("CUDA_ERROR_KEY_ROTATION"));
        assertEquals(
                CudaResults.Failure.KERNEL_UNAVAILABLE, CudaResults.classify(CudaResults.UNSUPPORTED_DEVSIDE_SYNC));
    }

    @Test
    void refusedLaunchesKeepTheContext() {
        KernelFailureException kf = assertInstanceOf(
                KernelFailureException.class,
                CudaResults.exception(
                        CudaResults.LAUNCH_OUT_OF_RESOURCES,
                        "cuLaunchKernel",
                        CudaResults.Phase.LAUNCH,
                        DEV,
                        0,
                        null,
                        null));
        assertFalse(kf.contextLost());
        // an invalid value at a launch is a kernel failure the runtime can route around
        kf = assertInstanceOf(
                KernelFailureException.class,
                CudaResults.exception(
                        CudaResults.INVALID_VALUE, "cuLaunchKernel", CudaResults.Phase.LAUNCH, DEV, 0, null, null));
        assertFalse(kf.contextLost());
        // elsewhere it is a plain driver failure
        CudaException plain = CudaResults.exception(
                CudaResults.INVALID_VALUE, "cuMemsetD8", CudaResults.Phase.OTHER, DEV, 0, null, null);
        assertEquals(CudaException.class, plain.getClass());
    }

    @Test
    void launchFailuresNameTheirModuleSoTheRuntimeBlamesIt() {
        KernelFailureException refused = assertInstanceOf(
                KernelFailureException.class,
                CudaResults.exception(
                        CudaResults.LAUNCH_OUT_OF_RESOURCES,
                        "cuLaunchKernel(layer_norm)",
                        CudaResults.Phase.LAUNCH,
                        DEV,
                        0,
                        "encoder_ops",
                        null));
        assertEquals("encoder_ops", refused.module());
        KernelFailureException lost = assertInstanceOf(
                KernelFailureException.class,
                CudaResults.exception(700, "cuLaunchKernel", CudaResults.Phase.LAUNCH, DEV, 0, "gemm_sm80", null));
        assertTrue(lost.contextLost());
        assertEquals("gemm_sm80", lost.module());
        // a failure a synchronization reports may come from any kernel before it: no module
        KernelFailureException later = assertInstanceOf(
                KernelFailureException.class,
                CudaResults.exception(700, "cuStreamSynchronize", CudaResults.Phase.SYNCHRONIZE, DEV, 0, null, null));
        assertEquals("", later.module());
    }

    @Test
    void moduleRefusalsAreUnavailableKernels() {
        for (int code : new int[] {
            CudaResults.UNSUPPORTED_PTX_VERSION,
            CudaResults.INVALID_PTX,
            CudaResults.NO_BINARY_FOR_GPU,
            CudaResults.JIT_COMPILER_NOT_FOUND,
            CudaResults.INVALID_IMAGE
        }) {
            KernelUnavailableException ku = assertInstanceOf(
                    KernelUnavailableException.class,
                    CudaResults.exception(
                            code,
                            "cuModuleLoadDataEx(flash_sm80)",
                            CudaResults.Phase.LOAD,
                            DEV,
                            0,
                            "flash_sm80",
                            null));
            assertEquals("flash_sm80", ku.module());
            assertEquals(code, ku.result());
        }
    }

    @Test
    void successIsNoException() {
        assertThrows(
                IllegalArgumentException.class,
                () -> CudaResults.exception(0, "x", CudaResults.Phase.OTHER, DEV, 0, null, null));
    }

    @Test
    void messagesExplainKnownNames() {
        String m = CudaResults.message("cuInit", 100, DEV);
        assertTrue(m.startsWith("cuInit: CUDA_ERROR_NO_DEVICE ("), m);
        assertTrue(m.endsWith(" on " + DEV), m);
    }
}

package dev.attune.kernels.cuda;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.attune.kernels.select.ComputeDtype;
import jcuda.driver.CUdeviceptr;
import org.junit.jupiter.api.Test;

/** Host-side argument checks of {@link CudaOps}; GpuArrays over a null device pointer, never dereferenced. */
class OpChecksTest {

    private static GpuArray arr(ComputeDtype dt, long n) {
        return new GpuArray(new CUdeviceptr(), dt, n);
    }

    @Test
    void gemmNeedsBuffersOfTheShapeAndOneDtype() {
        ComputeDtype h = ComputeDtype.FP16;
        assertDoesNotThrow(() -> OpChecks.gemm(arr(h, 6), arr(h, 12), null, arr(h, 8), 2, 4, 3, 0));
        assertDoesNotThrow(() -> OpChecks.gemm(arr(h, 6), arr(h, 12), arr(h, 4), arr(h, 8), 2, 4, 3, 1));
        IllegalArgumentException e = assertThrows(
                IllegalArgumentException.class,
                () -> OpChecks.gemm(arr(h, 5), arr(h, 12), null, arr(h, 8), 2, 4, 3, 0));
        assertTrue(e.getMessage().contains("a is fp16[5]"), e.getMessage());
        assertThrows(
                IllegalArgumentException.class,
                () -> OpChecks.gemm(arr(h, 6), arr(ComputeDtype.BF16, 12), null, arr(h, 8), 2, 4, 3, 0));
        assertThrows(
                IllegalArgumentException.class,
                () -> OpChecks.gemm(arr(h, 6), arr(h, 12), arr(h, 3), arr(h, 8), 2, 4, 3, 0));
        assertThrows(
                IllegalArgumentException.class,
                () -> OpChecks.gemm(arr(h, 6), arr(h, 12), null, arr(h, 8), 2, 4, 3, 2));
        assertThrows(
                IllegalArgumentException.class,
                () -> OpChecks.gemm(arr(h, 6), arr(h, 12), null, arr(h, 8), 0, 4, 3, 0));
        assertThrows(
                IllegalArgumentException.class,
                () -> OpChecks.gemm(arr(null, 6), arr(h, 12), null, arr(h, 8), 2, 4, 3, 0));
    }

    @Test
    void attentionChecksStridesDtypesAndSeqlens() {
        ComputeDtype b = ComputeDtype.BF16;
        GpuArray qkv = arr(b, 10 * 3 * 64);
        GpuArray o = arr(b, 10 * 64);
        GpuArray cu = arr(null, 3);
        assertDoesNotThrow(() -> OpChecks.attention(
                qkv, qkv.slice(64, 64 * 29), qkv.slice(128, 64 * 28), o, cu, 2, 6, 2, 32, 192, 192, 64));
        assertThrows(
                IllegalArgumentException.class,
                () -> OpChecks.attention(qkv, qkv, qkv, o, cu, 2, 6, 2, 32, 192, 192, 63));
        assertThrows(
                IllegalArgumentException.class,
                () -> OpChecks.attention(qkv, qkv, qkv, o, arr(null, 2), 2, 6, 2, 32, 192, 192, 64));
        assertThrows(
                IllegalArgumentException.class,
                () -> OpChecks.attention(qkv, qkv, qkv, arr(ComputeDtype.FP16, 640), cu, 2, 6, 2, 32, 192, 192, 64));
        assertThrows(
                IllegalArgumentException.class,
                () -> OpChecks.attention(qkv, qkv, qkv, o, arr(ComputeDtype.FP32, 3), 2, 6, 2, 32, 192, 192, 64));
    }

    @Test
    void encoderOpsCheckTheirBuffers() {
        ComputeDtype f = ComputeDtype.FP32;
        GpuArray ids = arr(null, 5);
        assertDoesNotThrow(
                () -> OpChecks.embed(ids, ids, ids, arr(f, 100 * 8), arr(f, 16 * 8), arr(f, 2 * 8), arr(f, 40), 5, 8));
        assertThrows(
                IllegalArgumentException.class,
                () -> OpChecks.embed(ids, null, ids, arr(f, 800), arr(f, 128), arr(f, 16), arr(f, 40), 5, 8));
        assertThrows(
                IllegalArgumentException.class,
                () -> OpChecks.embed(ids, ids, ids, arr(f, 800), arr(f, 128), arr(f, 16), arr(f, 39), 5, 8));
        assertDoesNotThrow(() -> OpChecks.addLayerNorm(arr(f, 40), null, arr(f, 8), arr(f, 8), 5, 8));
        assertThrows(
                IllegalArgumentException.class,
                () -> OpChecks.addLayerNorm(arr(f, 40), arr(f, 39), arr(f, 8), arr(f, 8), 5, 8));
        assertDoesNotThrow(
                () -> OpChecks.pool("pool_mean", arr(ComputeDtype.FP16, 40), arr(null, 3), 2, 8, arr(f, 16)));
        // pooled output is fp32 whatever the activations
        assertThrows(
                IllegalArgumentException.class,
                () -> OpChecks.pool(
                        "pool_mean", arr(ComputeDtype.FP16, 40), arr(null, 3), 2, 8, arr(ComputeDtype.FP16, 16)));
    }

    @Test
    void slicesStayInsideTheirArray() {
        GpuArray a = arr(ComputeDtype.FP16, 10);
        GpuArray s = a.slice(4, 6);
        assertTrue(s.elements() == 6 && s.bytes() == 12);
        assertThrows(IndexOutOfBoundsException.class, () -> a.slice(5, 6));
        assertThrows(IndexOutOfBoundsException.class, () -> a.slice(-1, 2));
        assertTrue(arr(null, 3).bytes() == 12 && arr(null, 3).isInt());
    }
}

package dev.attune.kernels.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.attune.kernels.select.ComputeDtype;
import jcuda.driver.CUdeviceptr;
import org.junit.jupiter.api.Test;

/** Slices keep track of where they start, which decides whether tensor-core kernels may read them. */
class GpuArrayTest {

    @Test
    void fusedQkvSlicesOfAHiddenSizeMultipleOfEightStayAligned() {
        GpuArray qkv = new GpuArray(new CUdeviceptr(), ComputeDtype.FP16, 10L * 3 * 384);
        GpuArray k = qkv.slice(384, qkv.elements() - 384);
        GpuArray v = qkv.slice(768, qkv.elements() - 768);
        assertEquals(768, k.byteOffset());
        assertTrue(qkv.aligned16() && k.aligned16() && v.aligned16());
    }

    @Test
    void anOddOffsetIsNotAligned() {
        GpuArray a = new GpuArray(new CUdeviceptr(), ComputeDtype.BF16, 100);
        GpuArray s = a.slice(4, 8).slice(1, 4);
        assertEquals(10, s.byteOffset());
        assertFalse(s.aligned16());
        assertTrue(new GpuArray(new CUdeviceptr(), null, 8).slice(4, 4).aligned16());
    }

    @Test
    void slicesOutsideTheArrayAreRefused() {
        GpuArray a = new GpuArray(new CUdeviceptr(), ComputeDtype.FP32, 16);
        assertThrows(IndexOutOfBoundsException.class, () -> a.slice(10, 7));
        assertThrows(IllegalArgumentException.class, () -> new GpuArray(new CUdeviceptr(), ComputeDtype.FP32, 1, -2));
    }
}

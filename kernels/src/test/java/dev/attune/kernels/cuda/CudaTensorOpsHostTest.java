package dev.attune.kernels.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.attune.kernels.attention.AttentionProblem;
import dev.attune.kernels.precision.PrecisionOverflowException;
import dev.attune.kernels.select.ComputeDtype;
import jcuda.driver.CUdeviceptr;
import org.junit.jupiter.api.Test;

/**
 * The host side of the op contract on CUDA, without a GPU: the weight layout the GEMM reads, the
 * shape checks made before anything is enqueued, and the bookkeeping of the fp16 store counters.
 * (Device pointers here are never dereferenced: nothing is launched.)
 */
class CudaTensorOpsHostTest {

    private static CudaTensor tensor(int rows, int cols) {
        return new CudaTensor(
                new GpuArray(new CUdeviceptr(), ComputeDtype.FP16, (long) rows * cols), rows, cols, false);
    }

    private static CudaTensor linearWeight(int in, int out) {
        return new CudaTensor(new GpuArray(new CUdeviceptr(), ComputeDtype.FP16, (long) in * out), in, out, true);
    }

    @Test
    void linearWeightsGoBackToPyTorchsOutInLayout() {
        // (in 2, out 3): row i holds output features 0..2 of input feature i.
        float[] inMajor = {1, 2, 3, 4, 5, 6};
        assertArrayEquals(new float[] {1, 4, 2, 5, 3, 6}, CudaWeights.transpose(inMajor, 2, 3));
        assertThrows(IllegalArgumentException.class, () -> CudaWeights.transpose(inMajor, 2, 2));
    }

    @Test
    void fusedQkvRowsAreQueryThenKeyThenValue() {
        int h = 2;
        // BertWeights' fused (hidden, 3·hidden): row i = q[i, :] | k[i, :] | v[i, :] in (in, out) form.
        float[] qkv = {
            10, 11, 20, 21, 30, 31,
            12, 13, 22, 23, 32, 33
        };
        float[] device = CudaWeights.transpose(qkv, h, 3 * h);
        // (3·hidden, hidden): output rows 0..h-1 are the query's, h..2h-1 the key's, 2h..3h-1 the value's.
        assertArrayEquals(new float[] {10, 12, 11, 13, 20, 22, 21, 23, 30, 32, 31, 33}, device);
    }

    @Test
    void aTensorMustFitItsArrayAndBeFloatingPoint() {
        GpuArray a = new GpuArray(new CUdeviceptr(), ComputeDtype.FP32, 11);
        assertEquals(
                12, new CudaTensor(new GpuArray(new CUdeviceptr(), ComputeDtype.FP32, 12), 3, 4, false).elements());
        assertThrows(IllegalArgumentException.class, () -> new CudaTensor(a, 3, 4, false));
        assertThrows(
                IllegalArgumentException.class,
                () -> new CudaTensor(new GpuArray(new CUdeviceptr(), null, 12), 3, 4, false));
    }

    @Test
    void linearTakesOnlyALinearWeightOfTheRightShape() {
        CudaTensor x = tensor(5, 8);
        CudaTensor y = tensor(5, 24);
        CudaTensor bias = tensor(1, 24);
        CudaTensorOps.checkLinear(x, linearWeight(8, 24), bias, y);
        CudaTensorOps.checkLinear(x, linearWeight(8, 24), null, y);
        IllegalArgumentException table = assertThrows(
                IllegalArgumentException.class, () -> CudaTensorOps.checkLinear(x, tensor(8, 24), bias, y));
        assertTrue(table.getMessage().contains("(out, in)"), table.getMessage());
        assertThrows(IllegalArgumentException.class, () -> CudaTensorOps.checkLinear(x, linearWeight(24, 8), bias, y));
        assertThrows(
                IllegalArgumentException.class,
                () -> CudaTensorOps.checkLinear(x, linearWeight(8, 24), tensor(1, 23), y));
        assertThrows(
                IllegalArgumentException.class,
                () -> CudaTensorOps.checkLinear(x, linearWeight(8, 24), bias, tensor(4, 24)));
    }

    @Test
    void gatherChecksEveryIdOnTheHostBecauseTheKernelDoesNot() {
        CudaTensor table = tensor(7, 16);
        CudaTensorOps.checkGather(table, new int[] {0, 6, 3}, tensor(3, 16));
        IllegalArgumentException e = assertThrows(
                IllegalArgumentException.class,
                () -> CudaTensorOps.checkGather(table, new int[] {0, 7, 3}, tensor(3, 16)));
        assertTrue(e.getMessage().contains("id 7 at row 1"), e.getMessage());
        assertThrows(
                IllegalArgumentException.class, () -> CudaTensorOps.checkGather(table, new int[] {-1}, tensor(1, 16)));
        assertThrows(
                IllegalArgumentException.class,
                () -> CudaTensorOps.checkGather(table, new int[] {0, 1}, tensor(3, 16)));
        assertThrows(
                IllegalArgumentException.class, () -> CudaTensorOps.checkGather(table, new int[] {0}, tensor(1, 15)));
        assertThrows(
                IllegalArgumentException.class,
                () -> CudaTensorOps.checkGather(linearWeight(7, 16), new int[] {0}, tensor(1, 16)));
    }

    @Test
    void attentionReadsFusedRowsAndRefusesWhatHasNoKernel() {
        int[] cu = {0, 3, 5};
        AttentionProblem fused = AttentionProblem.fusedQkv(cu, 2, 8, false);
        CudaTensor qkv = tensor(5, 48);
        CudaTensorOps.checkAttention(fused, qkv, qkv, qkv, tensor(5, 16));
        assertThrows(
                IllegalArgumentException.class,
                () -> CudaTensorOps.checkAttention(fused, qkv, qkv, qkv, tensor(5, 48)));
        assertThrows(
                IllegalArgumentException.class,
                () -> CudaTensorOps.checkAttention(fused, tensor(4, 48), qkv, qkv, tensor(5, 16)));
        AttentionProblem gqa = AttentionProblem.fusedGqa(cu, 4, 2, 8, 0);
        UnsupportedOperationException e = assertThrows(
                UnsupportedOperationException.class,
                () -> CudaTensorOps.checkAttention(gqa, tensor(5, 64), tensor(5, 64), tensor(5, 64), tensor(5, 32)));
        assertTrue(e.getMessage().contains("CPU path"), e.getMessage());
        assertThrows(
                UnsupportedOperationException.class,
                () -> CudaTensorOps.checkAttention(
                        AttentionProblem.fusedGqa(cu, 2, 2, 8, 2), qkv, qkv, qkv, tensor(5, 16)));
    }

    @Test
    void theDecoderOpsSayTheyHaveNoKernel() {
        assertEquals(
                "rope has no CUDA kernel in this build; decoders run on the CPU path",
                CudaTensorOps.noKernel("rope").getMessage());
    }

    @Test
    void theFirstStoreInOrderThatOverflowedIsNamed() {
        StoreChecks s = new StoreChecks();
        assertEquals(0, s.add("embeddings"));
        assertEquals(1, s.add("QKV projection"));
        assertEquals(2, s.add("attention projection"));
        assertEquals(3, s.add("feed-forward output"));
        s.check(0, new int[] {0, 0});
        assertEquals(2, s.checkedUpTo());
        // the attention projection overflowed; the feed-forward output inherited its infinities
        PrecisionOverflowException e =
                assertThrows(PrecisionOverflowException.class, () -> s.check(2, new int[] {3, 40}));
        assertEquals("attention projection holds 3 non-finite values, beyond fp16's range (65504)", e.getMessage());
        assertEquals(2, s.checkedUpTo(), "a failed check proves nothing clean");
        assertThrows(IllegalArgumentException.class, () -> s.check(3, new int[] {0, 0}));
    }

    @Test
    void slotsFillBlocksInOrder() {
        StoreChecks s = new StoreChecks();
        for (int i = 0; i < StoreChecks.BLOCK + 1; i++) {
            s.add("store " + i);
        }
        assertEquals(2, s.blocks());
        assertEquals(0, StoreChecks.block(StoreChecks.BLOCK - 1));
        assertEquals(StoreChecks.BLOCK - 1, StoreChecks.offset(StoreChecks.BLOCK - 1));
        assertEquals(1, StoreChecks.block(StoreChecks.BLOCK));
        assertEquals(0, StoreChecks.offset(StoreChecks.BLOCK));
        int[] counts = new int[StoreChecks.BLOCK + 1];
        counts[StoreChecks.BLOCK] = -1; // an unsigned count of 2^32 - 1
        PrecisionOverflowException e = assertThrows(PrecisionOverflowException.class, () -> s.check(0, counts));
        assertTrue(e.getMessage().startsWith("store " + StoreChecks.BLOCK + " holds 4294967295 "), e.getMessage());
    }
}

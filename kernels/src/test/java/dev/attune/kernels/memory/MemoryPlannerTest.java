package dev.attune.kernels.memory;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.attune.kernels.select.AttentionPath;
import dev.attune.kernels.select.ComputeDtype;
import org.junit.jupiter.api.Test;

/** Bytes per row for each path (written out from the formula) and batch sizes from free memory. */
class MemoryPlannerTest {

    /** all-MiniLM-L6-v2's shape: 6 layers, hidden 384, 12 heads, FFN 1536, 22.7M weights. */
    private static final EncoderShape MINILM = new EncoderShape(6, 384, 12, 1536, 22_713_216L);

    @Test
    void bytesPerRowByPath() {
        // activations: 256 x (6 x 384 + 1536) values = 983,040; in fp16 1,966,080 bytes.
        assertEquals(
                1_966_080L, MemoryPlanner.bytesPerRow(MINILM, 256, AttentionPath.FLASH_SM80, ComputeDtype.FP16, 256));
        // mem-efficient adds 2 x 12 heads x 256 fp32 softmax statistics = 24,576 bytes.
        assertEquals(
                1_966_080L + 24_576L,
                MemoryPlanner.bytesPerRow(MINILM, 256, AttentionPath.MEM_EFFICIENT, ComputeDtype.FP16, 256));
        // math adds 12 heads x 256 queries x 256 keys fp32 scores = 3,145,728 bytes; chunked to 64 queries, a quarter.
        assertEquals(
                1_966_080L + 3_145_728L,
                MemoryPlanner.bytesPerRow(MINILM, 256, AttentionPath.MATH, ComputeDtype.FP16, 256));
        assertEquals(
                1_966_080L + 786_432L,
                MemoryPlanner.bytesPerRow(MINILM, 256, AttentionPath.MATH, ComputeDtype.FP16, 64));
        // the CPU computes in fp32: twice the activations.
        assertEquals(
                3_932_160L, MemoryPlanner.bytesPerRow(MINILM, 256, AttentionPath.CPU_FLASH, ComputeDtype.FP32, 256));
    }

    @Test
    void flashIsLinearAndMathQuadraticInTheRowLength() {
        long f1 = MemoryPlanner.bytesPerRow(MINILM, 1024, AttentionPath.FLASH_SM75, ComputeDtype.FP16, 1024);
        long f16 = MemoryPlanner.bytesPerRow(MINILM, 16384, AttentionPath.FLASH_SM75, ComputeDtype.FP16, 16384);
        long m1 = MemoryPlanner.bytesPerRow(MINILM, 1024, AttentionPath.MATH, ComputeDtype.FP16, 1024);
        long m16 = MemoryPlanner.bytesPerRow(MINILM, 16384, AttentionPath.MATH, ComputeDtype.FP16, 16384);
        assertEquals(16.0, f16 / (double) f1, 1e-9);
        assertTrue(m16 / (double) m1 > 100, "math grows with N squared");
    }

    @Test
    void batchRowsFromFreeMemory() {
        long t4Free = (16L << 30) - (512L << 20);
        long weights = MemoryPlanner.weightBytes(MINILM, ComputeDtype.FP16);
        assertEquals(45_426_432L, weights);
        long perRow = MemoryPlanner.bytesPerRow(MINILM, 256, AttentionPath.FLASH_SM75, ComputeDtype.FP16, 256);
        long expected = (long) Math.floor((t4Free * 0.9 - weights) / perRow);
        assertEquals(
                expected,
                MemoryPlanner.batchRows(
                        t4Free,
                        0.9,
                        weights,
                        1,
                        MINILM,
                        256,
                        AttentionPath.FLASH_SM75,
                        ComputeDtype.FP16,
                        256,
                        Integer.MAX_VALUE));
        assertEquals(
                256,
                MemoryPlanner.batchRows(
                        t4Free, 0.9, weights, 1, MINILM, 256, AttentionPath.FLASH_SM75, ComputeDtype.FP16, 256, 256),
                "capped at maxRows");
        assertEquals(
                1,
                MemoryPlanner.batchRows(
                        1L << 20, 0.9, weights, 1, MINILM, 256, AttentionPath.FLASH_SM75, ComputeDtype.FP16, 256, 256),
                "at least one row: splitting further is the out-of-memory handler's job");
        assertThrows(
                IllegalArgumentException.class,
                () -> MemoryPlanner.batchRows(
                        t4Free, 0, weights, 1, MINILM, 256, AttentionPath.FLASH_SM75, ComputeDtype.FP16, 256, 256));
        assertThrows(
                IllegalArgumentException.class,
                () -> MemoryPlanner.batchRows(
                        t4Free, 1.5, weights, 1, MINILM, 256, AttentionPath.FLASH_SM75, ComputeDtype.FP16, 256, 256));
    }

    @Test
    void concurrentTasksShareWhatTheWeightsLeaveAndTheWeightsComeOffOnce() {
        long free = 16L << 30;
        long weights = 4L << 30;
        // 16 GiB x 0.75 = 12 GiB; less 4 GiB of weights once = 8 GiB, split two ways or four.
        assertEquals(8L << 30, MemoryPlanner.taskBudget(free, 0.75, weights, 1), 0);
        assertEquals(4L << 30, MemoryPlanner.taskBudget(free, 0.75, weights, 2), 0);
        assertEquals(2L << 30, MemoryPlanner.taskBudget(free, 0.75, weights, 4), 0);
        assertTrue(MemoryPlanner.taskBudget(free, 0.75, 13L << 30, 2) < 0, "weights over the budget");
        assertThrows(IllegalArgumentException.class, () -> MemoryPlanner.taskBudget(free, 0.75, weights, 0));
        assertThrows(IllegalArgumentException.class, () -> MemoryPlanner.taskBudget(free, 0, weights, 1));

        long perRow = MemoryPlanner.bytesPerRow(MINILM, 256, AttentionPath.FLASH_SM75, ComputeDtype.FP16, 256);
        int one = MemoryPlanner.batchRows(
                free, 0.75, weights, 1, MINILM, 256, AttentionPath.FLASH_SM75, ComputeDtype.FP16, 256, 1 << 20);
        int two = MemoryPlanner.batchRows(
                free, 0.75, weights, 2, MINILM, 256, AttentionPath.FLASH_SM75, ComputeDtype.FP16, 256, 1 << 20);
        assertEquals((8L << 30) / perRow, one);
        assertEquals((4L << 30) / perRow, two);
        // Had the weights been divided as well, two tasks would get (12 GiB / 2 - 4 GiB) = 2 GiB each.
        assertTrue(two > (2L << 30) / perRow, "weights are not divided: " + two);
    }

    @Test
    void decoderTokenBytesCountOneLayersActivationsAndAttentionByPath() {
        // TinyLlama's shape: hidden 2048, 32 heads, 4 KV heads, head_dim 64, FFN 5632.
        DecoderShape s = new DecoderShape(22, 2048, 32, 4, 64, 5632, 32000, 1_100_048_384L);
        long values = 3 * 2048 + (32 + 8) * 64 + 32 * 64 + 3 * 5632;
        assertEquals(values * 2, MemoryPlanner.decoderBytesPerToken(s, dev.attune.kernels.select.ComputeDtype.FP16));
        assertEquals(values * 4, MemoryPlanner.decoderBytesPerToken(s, dev.attune.kernels.select.ComputeDtype.FP32));
        assertEquals(
                0,
                MemoryPlanner.decoderAttentionBytes(
                        s, 512, 512, dev.attune.kernels.select.AttentionPath.FLASH_SM80, 512));
        assertEquals(
                32L * 64 * 512 * 4,
                MemoryPlanner.decoderAttentionBytes(s, 512, 512, dev.attune.kernels.select.AttentionPath.MATH, 64));
        assertEquals(
                512L * 600 * 8,
                MemoryPlanner.decoderAttentionBytes(s, 512, 600, dev.attune.kernels.select.AttentionPath.CPU_MATH, 64));
        assertEquals(1_100_048_384L * 2, MemoryPlanner.weightBytes(s, dev.attune.kernels.select.ComputeDtype.BF16));
    }
}

package dev.attune.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.attune.kernels.attention.MaskKind;
import dev.attune.kernels.device.DeviceInfo;
import dev.attune.kernels.device.SimulatedDevices;
import dev.attune.kernels.memory.EncoderShape;
import dev.attune.kernels.memory.MemoryPlanner;
import dev.attune.kernels.select.AttentionPath;
import dev.attune.kernels.select.AttentionRequest;
import dev.attune.kernels.select.AttentionSelector;
import dev.attune.kernels.select.ComputeDtype;
import dev.attune.kernels.select.UserOverrides;
import dev.attune.spark.conf.AttuneConf;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * A device's planned batch is one task's: the weights come off the device's memory once and what
 * is left is divided between the tasks that may run there at once.
 */
class DevicePlanTest {

    /** BERT-large-like: big enough that its weights and rows matter on a T4. */
    private static final EncoderShape LARGE = new EncoderShape(24, 1024, 16, 4096, 335_000_000L);

    @Test
    void twoTasksOnOneGpuEachPlanWithHalfOfWhatTheWeightsLeave() {
        DeviceInfo t4 = SimulatedDevices.get("T4", 0);
        DevicePlan one = DevicePlan.of(t4, LARGE, ComputeDtype.FP32, 512, UserOverrides.NONE, 0.9, 1, 1 << 20);
        DevicePlan two = DevicePlan.of(t4, LARGE, ComputeDtype.FP32, 512, UserOverrides.NONE, 0.9, 2, 1 << 20);
        assertEquals(one.choice(), two.choice(), "the split does not change the path");
        ComputeDtype dtype = one.choice().dtype();
        long weights = MemoryPlanner.weightBytes(LARGE, dtype);
        long perRow = MemoryPlanner.bytesPerRow(
                LARGE, 512, one.choice().path(), dtype, one.choice().queryChunk());
        double left = t4.freeMemory() * 0.9 - weights;
        assertEquals((long) Math.floor(left / perRow), one.batchRows());
        assertEquals((long) Math.floor(left / 2 / perRow), two.batchRows());
        assertTrue(two.batchRows() * 2 <= one.batchRows() + 1, one.batchRows() + " vs " + two.batchRows());
        // Charging each task the whole weights (free·0.9/2 - weights) would leave fewer rows: they are
        // resident once per device, for all its tasks.
        assertTrue(
                two.batchRows() > (long) Math.floor((t4.freeMemory() * 0.9 / 2 - weights) / perRow),
                "weights come off once, not per task");
    }

    @Test
    void theMathPathsScoreChunksComeFromOneTasksShareToo() {
        DeviceInfo t4 = SimulatedDevices.get("T4", 0);
        UserOverrides math = UserOverrides.force(AttentionPath.MATH);
        int len = 16_384;
        DevicePlan one = DevicePlan.of(t4, LARGE, ComputeDtype.FP32, len, math, 0.9, 1, 64);
        DevicePlan four = DevicePlan.of(t4, LARGE, ComputeDtype.FP32, len, math, 0.9, 4, 64);
        assertEquals(AttentionPath.MATH, one.choice().path());
        assertTrue(one.choice().queryChunk() < len, "the test needs a chunked score matrix");
        assertEquals(
                AttentionSelector.mathQueryChunk(
                        new AttentionRequest(ComputeDtype.FP32, 16, 64, 64, len, MaskKind.PADDING),
                        t4.freeMemory(),
                        0.9 / 4),
                four.choice().queryChunk());
        assertTrue(four.choice().queryChunk() <= one.choice().queryChunk() / 4 + 1);
    }

    @Test
    void gpusPlanForTheConfiguredTasksAndTheCpuForOne() {
        AttuneSettings s = AttuneConf.parse(Map.of(AttuneConf.GPU_CONCURRENT_TASKS.key(), "3"));
        assertEquals(3, s.concurrentTasksOn(SimulatedDevices.get("A100", 0)));
        assertEquals(1, s.concurrentTasksOn(DeviceInfo.cpu()));
        assertEquals(2, AttuneConf.parse(Map.of()).concurrentTasksOn(SimulatedDevices.get("T4", 0)), "the default");
    }
}

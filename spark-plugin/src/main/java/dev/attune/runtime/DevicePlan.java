package dev.attune.runtime;

import dev.attune.kernels.attention.MaskKind;
import dev.attune.kernels.device.DeviceInfo;
import dev.attune.kernels.memory.EncoderShape;
import dev.attune.kernels.memory.MemoryPlanner;
import dev.attune.kernels.select.AttentionChoice;
import dev.attune.kernels.select.AttentionRequest;
import dev.attune.kernels.select.AttentionSelector;
import dev.attune.kernels.select.ComputeDtype;
import dev.attune.kernels.select.KernelSupport;
import dev.attune.kernels.select.UserOverrides;

/**
 * What a device will do with a model, decided before any row is scored: the attention choice
 * for full-length rows and the batch size the memory planner allows one task there, when
 * {@code concurrentTasks} tasks share the device (the weights once, the rest divided between them;
 * {@link MemoryPlanner#taskBudget}). Executors report it in their inventory and {@code attune
 * probe} prints it.
 *
 * @param device     the device
 * @param choice     path, dtype, chunking and reason for rows of {@code seqLen} tokens
 * @param seqLen     the row length planned for (the model's maximum)
 * @param batchRows  rows per batch of one task that fit at that length
 */
public record DevicePlan(DeviceInfo device, AttentionChoice choice, int seqLen, int batchRows) {

    /**
     * Plans {@code device} for a model of this shape, stored dtype and maximum length, for one of
     * {@code concurrentTasks} tasks running on it at once ({@link AttuneSettings#concurrentTasksOn}).
     */
    public static DevicePlan of(
            DeviceInfo device,
            EncoderShape shape,
            ComputeDtype stored,
            int maxLen,
            UserOverrides overrides,
            double memoryFraction,
            int concurrentTasks,
            int maxRows) {
        AttentionRequest req =
                new AttentionRequest(stored, shape.heads(), shape.headDim(), maxRows, maxLen, MaskKind.PADDING);
        AttentionChoice choice = AttentionSelector.select(
                device, req, overrides, KernelSupport.SHIPPED, memoryFraction / concurrentTasks);
        long weights = MemoryPlanner.weightBytes(shape, choice.dtype());
        int rows = MemoryPlanner.batchRows(
                device.freeMemory(),
                memoryFraction,
                weights,
                concurrentTasks,
                shape,
                maxLen,
                choice.path(),
                choice.dtype(),
                choice.queryChunk(),
                maxRows);
        return new DevicePlan(device, choice, maxLen, rows);
    }
}

package dev.attune.runtime;

/**
 * Where a task runs, as the runtime needs it to pick a device ({@link AttuneRuntime#slotFor}):
 * the address of the GPU the cluster manager assigned to the task, if any, and the task's
 * partition, which spreads tasks without an assigned GPU over the executor's devices.
 *
 * @param gpuAddress  the first address of the task's GPU resource, or null when none was assigned
 * @param partitionId the task's partition; 0 outside a task
 */
public record TaskPlacement(String gpuAddress, int partitionId) {

    /** Not in a task: the runtime's first device. */
    public static final TaskPlacement NONE = new TaskPlacement(null, 0);
}

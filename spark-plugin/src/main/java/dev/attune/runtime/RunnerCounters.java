package dev.attune.runtime;

/**
 * A snapshot of how often a runner departed from its first plan for a batch; each departure is
 * also logged with its reason.
 *
 * @param oomSplits          batches split in two after the device ran out of memory
 * @param pathFallbacks      batches re-run on another path after a kernel failed or could not
 *                           load, including moves to the CPU when the device was lost
 * @param precisionFallbacks batches re-run in fp32 after fp16 overflowed
 */
public record RunnerCounters(long oomSplits, long pathFallbacks, long precisionFallbacks) {

    public static final RunnerCounters NONE = new RunnerCounters(0, 0, 0);

    public RunnerCounters plus(RunnerCounters o) {
        return new RunnerCounters(
                oomSplits + o.oomSplits, pathFallbacks + o.pathFallbacks, precisionFallbacks + o.precisionFallbacks);
    }
}

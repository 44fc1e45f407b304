package dev.attune.runtime;

import dev.attune.kernels.device.DeviceInfo;
import dev.attune.kernels.select.UserOverrides;
import java.util.List;
import java.util.Map;

/**
 * Attune's configuration for one JVM, parsed and validated once (by {@code AttuneConf.parse} in the
 * Spark layer, from the {@code spark.attune.*} keys and the few Spark keys Attune also reads) and
 * handed down to the runtime and the tasks, which never read a raw configuration map.
 *
 * <p>Immutable and thread-safe; per-call overrides (a transformer's batch size or onError) are
 * applied on top by the caller.
 *
 * @param model              {@code spark.attune.model}: the model transformers and SQL use unless they name another
 * @param preload            {@code spark.attune.model.preload}: load the model when the executor starts
 * @param overrides          the selector overrides ({@code spark.attune.attention.path}, {@code .exclude},
 *                           {@code spark.attune.dtype})
 * @param batchSize          {@code spark.attune.batch.size}: rows per batch, 0 = from the memory planner
 * @param batchMaxTokens     {@code spark.attune.batch.maxTokens}: most tokens in one batch
 * @param gpuConcurrentTasks {@code spark.attune.gpu.concurrentTasks}: tasks that may run on one GPU at once
 * @param gpuMemoryFraction  {@code spark.attune.gpu.memoryFraction}: share of free device memory the planner may use
 * @param gpuResource        {@code spark.attune.gpu.resourceName}: the Spark resource whose addresses are the GPUs
 * @param cpuThreads         {@code spark.attune.cpu.threads}: threads per task on the CPU, 0 = {@code taskCpus}
 * @param taskCpus           {@code spark.task.cpus} (1 when unset or not a number)
 * @param maxTextChars       {@code spark.attune.maxTextChars}: longest text a row may hold
 * @param onError            {@code spark.attune.onError}: what a failing row does
 * @param simulatedDevices   {@code spark.attune.simulate.devices}: executor id (or "*") to simulated device names
 * @param cacheDir           {@code spark.attune.cache.dir}, "" for the default
 * @param hadoopOptions      the {@code spark.hadoop.*} options without that prefix, for remote models
 */
public record AttuneSettings(
        String model,
        boolean preload,
        UserOverrides overrides,
        int batchSize,
        int batchMaxTokens,
        int gpuConcurrentTasks,
        double gpuMemoryFraction,
        String gpuResource,
        int cpuThreads,
        int taskCpus,
        int maxTextChars,
        OnError onError,
        Map<String, List<String>> simulatedDevices,
        String cacheDir,
        Map<String, String> hadoopOptions) {

    /** The key of {@link #maxTextChars}, for row errors. */
    public static final String MAX_TEXT_CHARS_KEY = "spark.attune.maxTextChars";
    /** The key of {@link #simulatedDevices}, for the inventory's probe note. */
    public static final String SIMULATE_DEVICES_KEY = "spark.attune.simulate.devices";

    public AttuneSettings {
        simulatedDevices = Map.copyOf(simulatedDevices);
        hadoopOptions = Map.copyOf(hadoopOptions);
    }

    /**
     * How many tasks the memory planner assumes share {@code device}'s memory at once, so that each
     * plans with its share ({@code MemoryPlanner.taskBudget}): {@link #gpuConcurrentTasks} on a GPU,
     * real or simulated (its slot admits that many, and its free memory is a figure probed once);
     * 1 on the CPU, whose task count Spark bounds with its cores, not Attune, and whose free
     * memory is measured from the live heap at each plan, so it already leaves out what running
     * tasks hold.
     */
    public int concurrentTasksOn(DeviceInfo device) {
        return device.isGpu() ? gpuConcurrentTasks : 1;
    }
}

package dev.attune.spark;

import dev.attune.runtime.AttuneRuntime;
import dev.attune.runtime.TaskPlacement;
import dev.attune.runtime.metrics.AttuneMetrics;
import dev.attune.spark.conf.SparkSettings;
import java.util.List;
import org.apache.spark.SparkEnv;
import org.apache.spark.TaskContext;
import org.apache.spark.resource.ResourceInformation;

/**
 * The {@link AttuneRuntime} of this JVM as Spark code reaches it: the one {@link AttunePlugin}'s
 * executor part started, or, when the plugin is not configured, one started on first use from
 * the executor's Spark configuration ({@link SparkEnv}), with metrics that go nowhere.
 *
 * <p>Threading: safe to call from concurrent task threads; at most one runtime is started.
 */
public final class ExecutorRuntime {

    private ExecutorRuntime() {}

    /**
     * The running runtime, started from the executor's Spark configuration if the plugin did not start it.
     *
     * @throws IllegalStateException outside Spark (no SparkEnv in this JVM)
     * @throws dev.attune.spark.conf.AttuneConfigException for a bad configuration
     */
    public static AttuneRuntime get() {
        AttuneRuntime rt = AttuneRuntime.currentOrNull();
        if (rt != null) {
            return rt;
        }
        return AttuneRuntime.startIfAbsent(() -> {
            SparkEnv env = SparkEnv.get();
            if (env == null) {
                throw new IllegalStateException("Attune runs inside Spark: no SparkEnv in this JVM");
            }
            return AttuneRuntime.start(
                    env.executorId(), SparkSettings.of(env.conf()), List.of(), AttuneMetrics.detached());
        });
    }

    /**
     * Where a task runs, for {@link AttuneRuntime#slotFor}: the first address of the GPU resource
     * ({@code spark.attune.gpu.resourceName}) Spark assigned to the task, if any, and its partition;
     * {@link TaskPlacement#NONE} outside a task ({@code tc} null).
     */
    public static TaskPlacement placement(AttuneRuntime rt, TaskContext tc) {
        if (tc == null) {
            return TaskPlacement.NONE;
        }
        scala.Option<ResourceInformation> info =
                tc.resources().get(rt.settings().gpuResource());
        String address = info.isDefined() && info.get().addresses().length > 0
                ? info.get().addresses()[0]
                : null;
        return new TaskPlacement(address, tc.partitionId());
    }
}

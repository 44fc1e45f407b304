package dev.attune.spark;

import org.apache.spark.api.plugin.DriverPlugin;
import org.apache.spark.api.plugin.ExecutorPlugin;
import org.apache.spark.api.plugin.SparkPlugin;

/**
 * Attune's Spark plugin: {@code --conf spark.plugins=dev.attune.spark.AttunePlugin} (alone or
 * beside other plugins, comma-separated, e.g. RAPIDS').
 *
 * <p>The driver part ({@link AttuneDriverPlugin}) checks every {@code spark.attune.*} setting
 * before any executor starts, hands the settings to the executors and prints the cluster's device
 * table as executors report. The executor part ({@link AttuneExecutorPlugin}) probes the executor's
 * own devices, plans each one, preloads the model and registers metrics.
 */
public final class AttunePlugin implements SparkPlugin {

    @Override
    public DriverPlugin driverPlugin() {
        return new AttuneDriverPlugin();
    }

    @Override
    public ExecutorPlugin executorPlugin() {
        return new AttuneExecutorPlugin();
    }
}

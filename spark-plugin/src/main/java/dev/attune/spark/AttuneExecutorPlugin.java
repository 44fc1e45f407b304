package dev.attune.spark;

import dev.attune.runtime.AttuneRuntime;
import dev.attune.runtime.AttuneSettings;
import dev.attune.runtime.metrics.AttuneMetrics;
import dev.attune.spark.conf.AttuneConf;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.apache.spark.api.plugin.ExecutorPlugin;
import org.apache.spark.api.plugin.PluginContext;
import org.apache.spark.resource.ResourceInformation;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The executor part of {@link AttunePlugin}.
 *
 * <p>Lifecycle: {@link #init} runs once when the executor starts, before it takes tasks. It
 * starts the JVM's {@link AttuneRuntime} with the settings the driver handed over: probes the
 * GPUs Spark assigned (or uses the configured simulated devices), plans each device, loads the
 * model when {@code spark.attune.model.preload} is set and reports the inventory to the driver.
 * An executor that cannot initialise (bad model, a device that cannot run a forced path) throws
 * with the reason, so Spark reports it and the executor exits instead of hanging.
 * {@link #shutdown} releases the models.
 *
 * <p>Threading: the task callbacks run on task threads, concurrently; they only read state.
 * The inventory is re-sent after a task when the executor's model loads changed.
 */
public final class AttuneExecutorPlugin implements ExecutorPlugin {

    private static final Logger LOG = LoggerFactory.getLogger(AttuneExecutorPlugin.class);

    private volatile PluginContext ctx;
    private volatile int reportedLoads = -1;

    @Override
    public void init(PluginContext ctx, Map<String, String> extraConf) {
        this.ctx = ctx;
        // The driver hands over the spark.attune.* keys; the executor's own settings that Attune
        // also reads (task cores, Hadoop options for remote models) come from its SparkConf.
        Map<String, String> conf = new java.util.HashMap<>(extraConf);
        for (scala.Tuple2<String, String> kv : ctx.conf().getAll()) {
            if (kv._1().equals("spark.task.cpus") || kv._1().startsWith("spark.hadoop.")) {
                conf.putIfAbsent(kv._1(), kv._2());
            }
        }
        AttuneSettings settings = AttuneConf.parse(conf);
        ResourceInformation gpus = ctx.resources().get(settings.gpuResource());
        List<String> addresses = gpus == null ? List.of() : Arrays.asList(gpus.addresses());
        AttuneRuntime rt =
                AttuneRuntime.start(ctx.executorID(), settings, addresses, new AttuneMetrics(ctx.metricRegistry()));
        if (settings.preload()) {
            String model = settings.model();
            try {
                rt.preload(model);
            } catch (RuntimeException e) {
                AttuneRuntime.stop(); // Spark does not call shutdown() on a plugin whose init failed
                throw new IllegalStateException(
                        "Attune executor " + ctx.executorID() + " cannot start: " + e.getMessage(), e);
            }
        }
        report(rt);
    }

    private void report(AttuneRuntime rt) {
        var inv = rt.inventory();
        reportedLoads = inv.modelLoads();
        try {
            ctx.send(inv);
        } catch (Exception e) {
            LOG.warn("Attune: could not send the inventory to the driver: {}", e.toString());
        }
        // In local mode the driver's log line carries the same probe note: say it once.
        boolean local = "driver".equals(inv.executorId());
        LOG.info(
                "Attune executor {}: {} (model {} loaded {} time(s) in {} ms){}",
                inv.executorId(),
                ExecutorInventoryLines.devices(inv),
                inv.model(),
                inv.modelLoads(),
                inv.modelLoadMillis(),
                local ? "" : "; " + inv.probeNote());
    }

    @Override
    public void onTaskSucceeded() {
        maybeReport();
    }

    @Override
    public void onTaskFailed(org.apache.spark.TaskFailedReason failureReason) {
        maybeReport();
    }

    private void maybeReport() {
        AttuneRuntime rt = AttuneRuntime.currentOrNull();
        if (rt != null && ctx != null && rt.models().loads(rt.settings().model()) != reportedLoads) {
            report(rt);
        }
    }

    @Override
    public void shutdown() {
        AttuneRuntime.stop();
    }
}

package dev.attune.spark;

import dev.attune.model.builtin.BuiltinModel;
import dev.attune.runtime.AttuneRuntime;
import dev.attune.runtime.inventory.ExecutorInventory;
import dev.attune.spark.conf.AttuneConf;
import dev.attune.spark.conf.AttuneConfigException;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.spark.SparkContext;
import org.apache.spark.api.plugin.DriverPlugin;
import org.apache.spark.api.plugin.PluginContext;
import org.apache.spark.scheduler.SparkListener;
import org.apache.spark.scheduler.SparkListenerExecutorRemoved;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The driver part of {@link AttunePlugin}.
 *
 * <p>Lifecycle: {@link #init} runs while the SparkContext starts, before any executor: it
 * validates every {@code spark.attune.*} key (unknown keys, bad values, an unknown built-in
 * model) and throws {@link AttuneConfigException} so the application stops with that message.
 * The map it returns (the Attune settings) reaches every executor's plugin.
 *
 * <p>Threading: {@link #receive} runs on Spark's RPC threads; executors send their
 * {@link ExecutorInventory} there when they start and when their model loads change; an executor
 * Spark removes leaves the table, and one that {@code spark.attune.simulate.devices} does not
 * cover (started later) is warned about.
 */
public final class AttuneDriverPlugin implements DriverPlugin {

    private static final Logger LOG = LoggerFactory.getLogger(AttuneDriverPlugin.class);

    /** {@code spark.attune.simulate.devices}, to warn about executors it does not cover. */
    private volatile Map<String, List<String>> simulated = Map.of();

    @Override
    public Map<String, String> init(SparkContext sc, PluginContext ctx) {
        Map<String, String> conf = new HashMap<>();
        for (scala.Tuple2<String, String> kv : sc.getConf().getAll()) {
            if (kv._1().startsWith(AttuneConf.PREFIX)) {
                conf.put(kv._1(), kv._2());
            }
        }
        String model = AttuneConf.parse(conf).model();
        if (model.startsWith(BuiltinModel.SCHEME) && BuiltinModel.find(model).isEmpty()) {
            throw new AttuneConfigException(
                    AttuneConf.MODEL.key() + " = '" + model + "' is not a built-in model; built-in " + "models are "
                            + java.util.Arrays.stream(BuiltinModel.values())
                                    .map(BuiltinModel::uri)
                                    .toList());
        }
        ClusterInventory.clear();
        simulated = AttuneConf.parse(conf).simulatedDevices();
        // A lost executor leaves the table; the one replacing it reports itself when it starts.
        sc.addSparkListener(new SparkListener() {
            @Override
            public void onExecutorRemoved(SparkListenerExecutorRemoved removed) {
                if (ClusterInventory.remove(removed.executorId())) {
                    LOG.warn(
                            "Attune: executor {} removed ({}); dropped from the cluster table",
                            removed.executorId(),
                            removed.reason());
                }
            }
        });
        LOG.info("Attune: configuration checked ({} keys set); model {}", conf.size(), model);
        return conf;
    }

    @Override
    public Object receive(Object message) {
        if (message instanceof ExecutorInventory inv) {
            ClusterInventory.update(inv);
            AttuneRuntime.uncoveredBySimulation(inv.executorId(), simulated)
                    .ifPresent(why -> LOG.warn("Attune: {}", why));
            // One line per report; the whole table once, at the end (a cluster of many executors
            // would otherwise log it once per executor).
            LOG.info(
                    "Attune: executor {} reported {} device(s) ({}), model {} loaded {} time(s) in {} ms; {}",
                    inv.executorId(),
                    inv.devices().size(),
                    ExecutorInventoryLines.devices(inv),
                    inv.model(),
                    inv.modelLoads(),
                    inv.modelLoadMillis(),
                    inv.probeNote());
            return null; // executors send one-way messages: there is nobody to reply to
        }
        throw new IllegalArgumentException("Attune's driver plugin does not handle " + message);
    }

    @Override
    public void shutdown() {
        String table = ClusterInventory.table();
        if (!ClusterInventory.alreadyShown(table)) {
            LOG.info("Attune: final cluster table\n{}", table);
        }
    }
}

package dev.attune.app.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.attune.kernels.cuda.PtxJitCache;
import dev.attune.kernels.cuda.PtxWarmup;
import dev.attune.kernels.device.DeviceInfo;
import dev.attune.kernels.device.GpuProbe;
import dev.attune.kernels.device.ProbeResult;
import dev.attune.kernels.device.SimulatedDevices;
import dev.attune.kernels.memory.EncoderShape;
import dev.attune.kernels.select.ComputeDtype;
import dev.attune.kernels.select.UnsupportedPathException;
import dev.attune.kernels.select.UserOverrides;
import dev.attune.model.EncoderModel;
import dev.attune.model.config.BertConfig;
import dev.attune.model.config.SentenceConfig;
import dev.attune.model.io.ModelLocator;
import dev.attune.model.safetensors.WeightStore;
import dev.attune.runtime.DevicePlan;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * {@code attune probe}: one line (or JSON object) per device with its figures and, for the
 * model's attention shape at its maximum length, the path, compute dtype, reason and the batch
 * the memory planner allows. Without {@code --simulate} it probes this machine's GPUs and always
 * adds the CPU, saying why no GPU was found when none was, and names the CUDA JIT cache in effect;
 * {@code --warm} also loads every PTX module on each GPU found, so that later executors on the
 * node find them compiled in that cache.
 */
final class ProbeCommand {

    static final String USAGE = """
            attune probe [--simulate NAME,NAME...] [--model MODEL] [--json] [--warm]
                         [--attention-path P] [--exclude P,Q] [--dtype auto|fp32|fp16|bf16]
              --warm     load every PTX module on each GPU found, filling the CUDA JIT cache
              NAME       one of""" + " " + String.join(", ", SimulatedDevices.names());

    private static final double GIB = 1024.0 * 1024 * 1024;

    private ProbeCommand() {}

    static int run(String[] args, PrintStream out) {
        Set<String> valued =
                new java.util.HashSet<>(Set.of("simulate", "model", "memory-fraction", "concurrent-tasks"));
        valued.addAll(OverrideOptions.NAMES);
        CliArgs a = new CliArgs("probe", args, 1, valued, Set.of("json", "warm"));
        UserOverrides overrides = OverrideOptions.parse(a);
        double fraction = Double.parseDouble(a.get("memory-fraction", "0.9"));
        // A GPU's batch is planned for one of this many tasks sharing it, as an executor does
        // (spark.attune.gpu.concurrentTasks, default 2); the CPU's for one task.
        int gpuTasks = Integer.parseInt(a.get("concurrent-tasks", "2"));
        if (gpuTasks < 1) {
            throw new CliArgs.UsageException("--concurrent-tasks must be at least 1, got " + gpuTasks);
        }

        List<DeviceInfo> devices = new ArrayList<>();
        String note;
        String sim = a.get("simulate", null);
        boolean warm = a.flag("warm");
        if (warm && sim != null) {
            throw new CliArgs.UsageException(
                    "probe: --warm loads modules on real GPUs; it does not go with --simulate");
        }
        if (sim != null) {
            try {
                devices.addAll(SimulatedDevices.parseList(sim));
            } catch (IllegalArgumentException e) {
                throw new CliArgs.UsageException("--simulate: " + e.getMessage());
            }
            note = "simulated devices";
        } else {
            ProbeResult probe = GpuProbe.probe(List.of());
            devices.addAll(probe.devices());
            devices.add(DeviceInfo.cpu());
            note = probe.devices().isEmpty() ? "no GPU: " + probe.reason() : probe.reason();
        }

        String modelSpec = a.get("model", "builtin:all-MiniLM-L6-v2");
        Path dir = ModelLocator.resolve(modelSpec);
        BertConfig config = BertConfig.read(dir);
        WeightStore store = WeightStore.open(dir);
        ComputeDtype stored = store.storedDtype().computeDtype();
        long params =
                store.names().stream().mapToLong(n -> store.info(n).elements()).sum();
        EncoderShape shape = new EncoderShape(
                config.layers(), config.hiddenSize(), config.heads(), config.intermediateSize(), params);
        int maxLen = EncoderModel.maxLength(dir, config, SentenceConfig.read(dir));

        ObjectMapper json = new ObjectMapper();
        ArrayNode rows = json.createArrayNode();
        boolean asJson = a.flag("json");
        String jitCache = PtxJitCache.current().describe();
        if (!asJson) {
            out.printf(
                    "model %s: %d layers, hidden %d, %d heads x head_dim %d, stored %s, max %d tokens%n",
                    modelSpec, config.layers(), config.hiddenSize(), config.heads(), config.headDim(), stored, maxLen);
            out.println(note);
            if (sim == null) {
                out.println(jitCache);
            }
        }
        for (DeviceInfo d : devices) {
            ObjectNode o = rows.addObject();
            o.put("device", d.label());
            o.put("name", d.name());
            o.put("kind", d.kind().name().toLowerCase(java.util.Locale.ROOT));
            o.put("simulated", d.simulated());
            o.put("ordinal", d.ordinal());
            o.put("pciBusId", d.pciBusId());
            o.put("computeCapability", d.isGpu() ? d.capability().toString() : "");
            o.put("totalMemoryBytes", d.totalMemory());
            o.put("freeMemoryBytes", d.freeMemory());
            o.put("multiprocessors", d.multiprocessors());
            o.put("driverVersion", d.driverVersionString());
            if (warm && d.isGpu() && !d.simulated()) {
                warm(d, o.putArray("warm"), asJson ? null : out);
            }
            try {
                DevicePlan plan =
                        DevicePlan.of(d, shape, stored, maxLen, overrides, fraction, d.isGpu() ? gpuTasks : 1, 4096);
                o.put("path", plan.choice().path().id());
                o.put("dtype", plan.choice().dtype().id());
                o.put("queryChunk", plan.choice().queryChunk());
                o.put("batchRowsAtMaxLength", plan.batchRows());
                o.put("reason", plan.choice().reason());
                if (!asJson) {
                    out.printf(
                            "%-34s %-6s %7.1f GiB  %-9s  %-13s %-4s batch %-5d %s%n",
                            d.label(),
                            d.isGpu() ? d.capability().smName() : "-",
                            d.totalMemory() / GIB,
                            d.simulated() ? "simulated" : "real",
                            plan.choice().path(),
                            plan.choice().dtype(),
                            plan.batchRows(),
                            plan.choice().reason());
                }
            } catch (UnsupportedPathException e) {
                o.putNull("path");
                o.put("error", e.getMessage());
                if (!asJson) {
                    out.printf("%-34s error: %s%n", d.label(), e.getMessage());
                }
            }
        }
        if (asJson) {
            ObjectNode root = json.createObjectNode();
            root.put("model", modelSpec);
            root.put("note", note);
            if (sim == null) {
                root.put("jitCache", jitCache);
            }
            root.set("devices", rows);
            out.println(root.toPrettyString());
        }
        return 0;
    }

    /**
     * {@code --warm}: loads the device's PTX modules ({@link PtxWarmup}) and reports each; a device
     * whose context cannot be opened is reported, and the probe goes on.
     */
    private static void warm(DeviceInfo d, ArrayNode into, PrintStream text) {
        try {
            for (PtxWarmup.Module m : PtxWarmup.warm(d)) {
                ObjectNode o = into.addObject();
                o.put("module", m.module());
                o.put("millis", m.millis());
                o.put("failure", m.failure());
                if (text != null) {
                    text.printf(
                            "  warm %s %-16s %s%n",
                            d.label(),
                            m.module(),
                            m.failure().isEmpty() ? m.millis() + " ms" : "refused: " + m.failure());
                }
            }
        } catch (RuntimeException e) {
            into.addObject().put("failure", String.valueOf(e.getMessage()));
            if (text != null) {
                text.printf("  warm %s failed: %s%n", d.label(), e.getMessage());
            }
        }
    }
}

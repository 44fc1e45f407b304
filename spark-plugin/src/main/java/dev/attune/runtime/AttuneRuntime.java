package dev.attune.runtime;

import dev.attune.kernels.cpu.CpuThreads;
import dev.attune.kernels.device.DeviceInfo;
import dev.attune.kernels.device.GpuProbe;
import dev.attune.kernels.device.ProbeResult;
import dev.attune.kernels.device.SimulatedDevices;
import dev.attune.kernels.select.UnsupportedPathException;
import dev.attune.kernels.select.UserOverrides;
import dev.attune.model.EncoderModel;
import dev.attune.runtime.inventory.DeviceEntry;
import dev.attune.runtime.inventory.ExecutorInventory;
import dev.attune.runtime.metrics.AttuneMetrics;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Semaphore;

/**
 * Attune's state in one JVM (an executor, or the driver in local mode): the configuration, the
 * devices and their runners, the model cache and the metrics.
 *
 * <p>Lifecycle: started by {@code AttunePlugin}'s executor part when the executor starts, or, when
 * the plugin is not configured, on first use from a task with the executor's Spark configuration
 * ({@link #startIfAbsent}, called by the Spark layer's {@code ExecutorRuntime.get()}). Either way
 * it takes its configuration parsed once ({@link AttuneSettings}) and never reads Spark's.
 * Stopped when the executor shuts down ({@link #stop}).
 *
 * <p>Devices: an executor given simulated devices ({@code spark.attune.simulate.devices}) uses
 * those; otherwise the GPUs Spark assigned to it (resource {@code spark.attune.gpu.resourceName}),
 * or every visible GPU when none were assigned; the CPU when there is no GPU. Each device is
 * planned on its own. A real GPU computes on the CUDA backend ({@link GpuDeviceRunner}) when the
 * shipped kernels run on it and its backend opens; otherwise it is served by the host CPU and the
 * inventory says why ({@link GpuRunners}). The runners' fallback counters are exposed as the
 * gauges {@code oomSplits} and {@code pathFallbacks} next to the other metrics.
 *
 * <p>Threading: all methods are safe to call from concurrent task threads.
 */
public final class AttuneRuntime implements AutoCloseable {

    private static volatile AttuneRuntime current;

    private final String executorId;
    private final AttuneSettings settings;
    private final List<DeviceSlot> slots;
    private final String probeNote;
    private final ModelCache models;
    private final Map<String, DeviceSlot> slotsByAddress = new java.util.concurrent.ConcurrentHashMap<>();
    private final Map<String, DecoderRunner> decoderRunners = new java.util.concurrent.ConcurrentHashMap<>();
    private final AttuneMetrics metrics;
    private final ThreadLocal<CpuThreads> taskThreads = ThreadLocal.withInitial(() -> new CpuThreads(cpuThreads()));

    private AttuneRuntime(
            String executorId,
            AttuneSettings settings,
            List<DeviceSlot> slots,
            String probeNote,
            AttuneMetrics metrics) {
        this.executorId = executorId;
        this.settings = settings;
        this.slots = List.copyOf(slots);
        this.probeNote = probeNote;
        this.metrics = metrics;
        registerGauge(metrics, "oomSplits", RunnerCounters::oomSplits);
        registerGauge(metrics, "pathFallbacks", RunnerCounters::pathFallbacks);
        this.models = new ModelCache(settings.hadoopOptions());
    }

    /** A gauge summing one counter over this runtime's runners; replaces a previous runtime's. */
    private void registerGauge(
            AttuneMetrics m, String name, java.util.function.ToLongFunction<RunnerCounters> counter) {
        m.registry().remove(name);
        m.registry().register(name, (com.codahale.metrics.Gauge<Long>)
                () -> counters().stream().mapToLong(counter).sum());
    }

    /** The fallback counters of each slot's runner, in slot order. */
    public List<RunnerCounters> counters() {
        return slots.stream().map(s -> s.runner().counters()).toList();
    }

    /**
     * Starts (or restarts) the runtime of this JVM.
     *
     * @param settings     the configuration, already parsed and validated (a bad configuration fails
     *                     there, with {@code AttuneConfigException}, before anything starts)
     * @param gpuAddresses the addresses of the GPUs Spark assigned to this executor (empty: all visible)
     * @throws UnsupportedPathException when a device cannot run a forced path
     */
    public static synchronized AttuneRuntime start(
            String executorId, AttuneSettings settings, List<String> gpuAddresses, AttuneMetrics metrics) {
        String cacheDir = settings.cacheDir();
        if (!cacheDir.isEmpty()) {
            System.setProperty("attune.cache.dir", cacheDir);
        }
        UserOverrides overrides = settings.overrides();
        double fraction = settings.gpuMemoryFraction();
        int concurrent = settings.gpuConcurrentTasks();
        Map<String, List<String>> simulated = settings.simulatedDevices();
        List<String> names = simulated.getOrDefault(executorId, simulated.get("*"));

        List<DeviceSlot> slots = new ArrayList<>();
        String note;
        if (names != null) {
            for (int i = 0; i < names.size(); i++) {
                DeviceInfo d = SimulatedDevices.get(names.get(i), i);
                slots.add(new DeviceSlot(
                        d,
                        new DeviceRunner(d, overrides, fraction, settings.concurrentTasksOn(d)),
                        new Semaphore(concurrent, true),
                        "simulated"));
            }
            note = "simulated devices " + names + " from " + AttuneSettings.SIMULATE_DEVICES_KEY;
        } else {
            ProbeResult probe = GpuProbe.probe(gpuAddresses);
            note = probe.devices().isEmpty() ? "no GPU: " + probe.reason() : probe.reason();
            Optional<String> uncovered = uncoveredBySimulation(executorId, simulated);
            if (uncovered.isPresent()) {
                note = uncovered.get() + "; " + note;
                org.slf4j.LoggerFactory.getLogger(AttuneRuntime.class).warn("Attune: {}", uncovered.get());
            }
            for (DeviceInfo gpu : probe.devices()) {
                GpuRunners.Served served = GpuRunners.serve(gpu, overrides, fraction, settings.concurrentTasksOn(gpu));
                slots.add(new DeviceSlot(gpu, served.runner(), new Semaphore(concurrent, true), served.note()));
            }
            if (slots.isEmpty()) {
                DeviceInfo cpu = DeviceInfo.cpu();
                slots.add(new DeviceSlot(
                        cpu, new DeviceRunner(cpu, overrides, fraction), new Semaphore(Integer.MAX_VALUE), "cpu"));
            }
        }
        AttuneRuntime rt = new AttuneRuntime(executorId, settings, slots, note, metrics);
        AttuneRuntime old = current;
        current = rt;
        if (old != null) {
            old.close();
        }
        return rt;
    }

    /**
     * Why an executor computes on its real devices although simulated devices are configured for
     * others: {@code spark.attune.simulate.devices} names executors by id and has no {@code *}
     * entry, and this one (started later, for instance replacing a lost executor) is not named.
     * Its rows then run on another device and precision than the rest of the job; empty when the
     * executor is covered or nothing is simulated.
     */
    public static Optional<String> uncoveredBySimulation(String executorId, Map<String, List<String>> simulated) {
        if (simulated.isEmpty() || simulated.containsKey(executorId) || simulated.containsKey("*")) {
            return Optional.empty();
        }
        return Optional.of("executor " + executorId + " is not in " + AttuneSettings.SIMULATE_DEVICES_KEY
                + " (it names "
                + new java.util.TreeSet<>(simulated.keySet()) + "; an executor started later, such as one replacing"
                + " a lost executor, is not covered): it computes on its real devices, in their precision; add a '*="
                + "NAME' entry to cover every executor");
    }

    /**
     * The running runtime, or the one {@code start} makes when none runs; {@code start} is called
     * at most once at a time (under the same lock as {@link #start}), so concurrent first uses
     * start one runtime. The Spark layer starts it this way from the executor's configuration
     * when the plugin did not ({@code dev.attune.spark.ExecutorRuntime}).
     *
     * @param start calls {@link #start} and returns its runtime; what it throws propagates
     */
    public static synchronized AttuneRuntime startIfAbsent(java.util.function.Supplier<AttuneRuntime> start) {
        return current != null ? current : start.get();
    }

    /** The runtime if one was started, without starting one. */
    public static AttuneRuntime currentOrNull() {
        return current;
    }

    public static synchronized void stop() {
        if (current != null) {
            current.close();
            current = null;
        }
    }

    public String executorId() {
        return executorId;
    }

    /** The configuration this runtime was started with. */
    public AttuneSettings settings() {
        return settings;
    }

    public List<DeviceSlot> slots() {
        return slots;
    }

    public ModelCache models() {
        return models;
    }

    public AttuneMetrics metrics() {
        return metrics;
    }

    /** Loads a model into the cache (once per JVM) and counts it. */
    public EncoderModel model(String spec) {
        boolean had = models.isLoaded(spec);
        EncoderModel m = models.get(spec);
        if (!had && models.loads(spec) > 0) {
            metrics.modelLoaded();
        }
        return m;
    }

    /** Loads a decoder into the cache (once per JVM) and counts it; an encoder directory is a clear error. */
    public dev.attune.model.DecoderModel decoder(String spec) {
        boolean had = models.isDecoderLoaded(spec);
        dev.attune.model.DecoderModel m = models.getDecoder(spec);
        if (!had && models.loads(spec) > 0) {
            metrics.modelLoaded();
        }
        return m;
    }

    /**
     * Loads the configured model at executor start, as its family needs: an encoder is loaded and
     * every device's plan checked ({@link #checkPlans}); a decoder is loaded.
     */
    public void preload(String spec) {
        if (models.family(spec) == dev.attune.model.ModelFamily.DECODER) {
            decoder(spec);
        } else {
            checkPlans(model(spec));
        }
    }

    /** A slot's runner for decoder work, and why it is that one. */
    public record DecoderRunner(DeviceRunner runner, String note) {}

    /**
     * The runner decoder passes use on a slot's device: the slot's own {@link DeviceRunner} for
     * the CPU, a simulated device, or a GPU the CPU already serves; for a real GPU on the CUDA
     * backend, a CPU runner (decoders have no CUDA kernels in this build), made once per slot and
     * logged once with the reason.
     */
    public DecoderRunner decoderRunner(DeviceSlot slot) {
        return decoderRunners.computeIfAbsent(slot.device().label(), k -> {
            if (slot.runner() instanceof DeviceRunner d) {
                return new DecoderRunner(d, slot.note());
            }
            String note = "decoders have no CUDA kernels in this build: decoder work on "
                    + slot.device().label() + " computes on the CPU";
            org.slf4j.LoggerFactory.getLogger(AttuneRuntime.class).warn("Attune: {}", note);
            return new DecoderRunner(
                    new DeviceRunner(DeviceInfo.cpu(), settings.overrides(), settings.gpuMemoryFraction()), note);
        });
    }

    /**
     * The slot of the device a task uses: the GPU Spark assigned to the task (the task's resource
     * {@code spark.attune.gpu.resourceName}, {@link TaskPlacement#gpuAddress}) when there is one;
     * otherwise tasks are spread over the executor's devices by partition. Outside a task
     * ({@link TaskPlacement#NONE} or null), the first device.
     */
    public DeviceSlot slotFor(TaskPlacement task) {
        if (task != null && slots.size() > 1) {
            if (task.gpuAddress() != null) {
                DeviceSlot s = slotForAddress(task.gpuAddress());
                if (s != null) {
                    return s;
                }
            }
            return slots.get(Math.floorMod(task.partitionId(), slots.size()));
        }
        return slots.get(0);
    }

    /**
     * The CPU worker pool of the calling task thread, made once per thread and reused by every
     * chunk and SQL call the thread runs ({@link #cpuThreads()} threads).
     */
    public CpuThreads threadsForThisTask() {
        return taskThreads.get();
    }

    /**
     * The slot of the GPU Spark assigned to a task, by the same address rules the executor's probe
     * used (an nvidia-smi index counts GPUs in PCI bus order, or a PCI bus id, or a UUID), or null.
     */
    DeviceSlot slotForAddress(String address) {
        return slotsByAddress.computeIfAbsent(address, a -> {
            List<DeviceInfo> devices = slots.stream().map(DeviceSlot::device).toList();
            var chosen = dev.attune.kernels.device.DeviceSelection.selectDevices(devices, List.of(a), System.getenv());
            if (chosen.devices().isEmpty()) {
                return null;
            }
            DeviceInfo d = chosen.devices().get(0);
            return slots.stream().filter(s -> s.device().equals(d)).findFirst().orElse(null);
        });
    }

    /** Threads a task may use on the CPU: spark.attune.cpu.threads, else spark.task.cpus. */
    public int cpuThreads() {
        int t = settings.cpuThreads();
        return t > 0 ? t : Math.max(1, settings.taskCpus());
    }

    /** The report for the driver: devices with their plans for the configured model. */
    public ExecutorInventory inventory() {
        String model = settings.model();
        List<DeviceEntry> entries = new ArrayList<>();
        EncoderModel m = models.isLoaded(model) ? models.get(model) : null;
        for (DeviceSlot s : slots) {
            DeviceInfo d = s.device();
            String path = "";
            String dtype = "";
            int rows = 0;
            String reason = s.note();
            if (m != null) {
                try {
                    // A GPU's plan leaves out the paths whose kernels failed there.
                    UserOverrides o =
                            s.runner() instanceof GpuDeviceRunner g ? g.currentOverrides() : settings.overrides();
                    DevicePlan plan = DevicePlan.of(
                            s.runner().device(),
                            m.shape(),
                            m.storedDtype(),
                            m.maxLength(),
                            o,
                            settings.gpuMemoryFraction(),
                            settings.concurrentTasksOn(s.runner().device()),
                            256);
                    path = plan.choice().path().id();
                    dtype = plan.choice().dtype().id();
                    rows = plan.batchRows();
                    reason = s.note().equals("cpu")
                                    || s.note().equals("simulated")
                                    || s.note().equals(GpuRunners.CUDA)
                            ? plan.choice().reason()
                            : s.note() + "; " + plan.choice().reason();
                } catch (UnsupportedPathException e) {
                    reason = e.getMessage();
                }
            }
            if (s.runner() instanceof GpuDeviceRunner g && g.lostReason().isPresent()) {
                reason = "device lost, served by the CPU: " + g.lostReason().get();
                path = "";
                dtype = "";
            }
            entries.add(new DeviceEntry(
                    d.label(),
                    d.isGpu() ? d.capability().toString() : "",
                    d.simulated(),
                    d.totalMemory(),
                    d.freeMemory(),
                    path,
                    dtype,
                    rows,
                    reason));
        }
        Runtime r = Runtime.getRuntime();
        return new ExecutorInventory(
                executorId,
                entries,
                model,
                models.loads(model),
                models.lastLoadMillis(),
                r.totalMemory() - r.freeMemory(),
                probeNote);
    }

    /**
     * Checks, for the configured model, that every device can run what the configuration forces:
     * the error names the device, path and reason.
     */
    public void checkPlans(EncoderModel m) {
        for (DeviceSlot s : slots) {
            DevicePlan.of(
                    s.runner().device(),
                    m.shape(),
                    m.storedDtype(),
                    m.maxLength(),
                    settings.overrides(),
                    settings.gpuMemoryFraction(),
                    settings.concurrentTasksOn(s.runner().device()),
                    256);
        }
    }

    /** Releases the devices (resident weights, CUDA contexts), then the models. */
    @Override
    public void close() {
        for (DeviceSlot s : slots) {
            try {
                s.runner().close();
            } catch (RuntimeException e) {
                org.slf4j.LoggerFactory.getLogger(AttuneRuntime.class)
                        .warn("{}: closing its runner failed: {}", s.device().label(), e.getMessage(), e);
            }
        }
        models.close();
    }
}

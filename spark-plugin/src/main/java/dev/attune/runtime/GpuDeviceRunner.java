package dev.attune.runtime;

import dev.attune.kernels.attention.MaskKind;
import dev.attune.kernels.cpu.CpuThreads;
import dev.attune.kernels.cuda.KernelFailureException;
import dev.attune.kernels.cuda.KernelUnavailableException;
import dev.attune.kernels.cuda.launch.AttentionLaunch;
import dev.attune.kernels.device.DeviceInfo;
import dev.attune.kernels.precision.PrecisionOverflowException;
import dev.attune.kernels.select.AttentionChoice;
import dev.attune.kernels.select.AttentionPath;
import dev.attune.kernels.select.AttentionRequest;
import dev.attune.kernels.select.AttentionSelector;
import dev.attune.kernels.select.ComputeDtype;
import dev.attune.kernels.select.KernelSupport;
import dev.attune.kernels.select.UserOverrides;
import dev.attune.model.EncoderModel;
import dev.attune.model.bert.TokenBatch;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs batches of a model on one real GPU through the CUDA backend.
 *
 * <p>Per batch it asks the {@link AttentionSelector} what this GPU runs for the batch's shape
 * (with the kernels this build ships) and runs the encoder there ({@link GpuForward}). What it
 * does when that goes wrong, every time counted ({@link #counters()}) and logged with the reason:
 * <ol>
 *   <li>out of memory: the pool is trimmed and the batch split by rows, recursively down to one
 *   row ({@link BatchSplitter}); results come back in the original order;</li>
 *   <li>a kernel that failed or could not load: the batch re-runs on the next path the selector
 *   gives with the failed path excluded on this device; a lost CUDA context marks the device
 *   lost and this batch and every later one run on the host CPU ({@link PathFallbackPolicy}).
 *   When no GPU path is left, the selector gives a CPU path and the CPU runner computes;</li>
 *   <li>fp16 overflow: the batch re-runs in fp32, unless the user set the dtype. From then on
 *   the model runs in fp32 on this GPU: later batches go straight to fp32 (their reason says
 *   why; they are not counted again), and its fp16 weights are
 *   {@linkplain GpuForward#retire retired}, freed when the last batch still computing in fp16
 *   ends, so the two copies are not both kept resident. Another overflow would be likely (the
 *   model's activations left fp16's range once), and each would upload the fp32 weights beside
 *   the fp16 ones again.</li>
 * </ol>
 *
 * <p>Threading: safe for concurrent use by the task threads sharing the GPU. Lifecycle: owns the
 * {@link GpuForward} (and so the device's CUDA backend) and closes it on {@link #close}, or as
 * soon as no forward is running once the device was lost, since a lost context is finished.
 */
public final class GpuDeviceRunner implements BatchRunner {

    private static final Logger LOG = LoggerFactory.getLogger(GpuDeviceRunner.class);

    private final DeviceInfo device;
    private final UserOverrides user;
    private final double memoryFraction;
    private final int concurrentTasks;
    private final GpuForward gpu;
    private final BatchRunner cpu;
    private final PathFallbackPolicy paths;
    private final BatchSplitter splitter;
    private final LongAdder precisionFallbacks = new LongAdder();
    /** Calls into {@link #gpu} under way; with {@link #gpuClosed} they decide when a lost device is released. */
    private final AtomicInteger inFlight = new AtomicInteger();

    private final AtomicBoolean gpuClosed = new AtomicBoolean();
    /**
     * Models (by identity, as the forward keys its residents) that overflowed fp16 here and run in
     * fp32 from then on. Held strongly, like the forward's residents; a model is one of a few.
     */
    private final Set<EncoderModel> fp32Models = ConcurrentHashMap.newKeySet();

    /**
     * @param device         the GPU (a real one; its figures drive the selector)
     * @param overrides      the user's forced path, exclusions and dtype
     * @param memoryFraction share of the GPU's free memory Attune may use
     * @param gpu            the GPU work; owned from now on
     * @param cpu            computes a batch when no GPU path is left or the device was lost
     *                       (built with {@link #hostOverrides})
     */
    public GpuDeviceRunner(
            DeviceInfo device, UserOverrides overrides, double memoryFraction, GpuForward gpu, BatchRunner cpu) {
        this(device, overrides, memoryFraction, 1, gpu, cpu);
    }

    /**
     * As the five-argument form, for a GPU that {@code concurrentTasks} tasks share
     * ({@code spark.attune.gpu.concurrentTasks}): the selector sizes each batch's math-path score
     * chunks from one task's share of the memory.
     */
    public GpuDeviceRunner(
            DeviceInfo device,
            UserOverrides overrides,
            double memoryFraction,
            int concurrentTasks,
            GpuForward gpu,
            BatchRunner cpu) {
        if (!device.isGpu() || device.simulated()) {
            throw new IllegalArgumentException(device.label() + " is not a real GPU");
        }
        this.device = device;
        this.user = overrides;
        if (concurrentTasks < 1) {
            throw new IllegalArgumentException("concurrent tasks must be at least 1, got " + concurrentTasks);
        }
        this.memoryFraction = memoryFraction;
        this.concurrentTasks = concurrentTasks;
        this.gpu = gpu;
        this.cpu = cpu;
        this.paths = new PathFallbackPolicy(device.label(), overrides);
        this.splitter = new BatchSplitter(device.label(), this::trimPool);
    }

    /**
     * The user's overrides as the host CPU takes them when it stands in for a GPU: a forced GPU
     * path does not apply there (exclusions and dtype stay; the CPU computes in fp32 anyway).
     */
    public static UserOverrides hostOverrides(UserOverrides o) {
        return o.forced().isPresent() && o.forced().get().isGpu()
                ? new UserOverrides(Optional.empty(), o.excluded(), o.dtype())
                : o;
    }

    @Override
    public DeviceInfo device() {
        return device;
    }

    @Override
    public AttentionChoice choose(EncoderModel model, int rows, int maxSeqLen, MaskKind mask) {
        return select(new BatchShape(rows, maxSeqLen, mask).request(model), paths.overrides());
    }

    private AttentionChoice select(AttentionRequest req, UserOverrides o) {
        return AttentionSelector.select(device, req, o, KernelSupport.SHIPPED, memoryFraction / concurrentTasks);
    }

    @Override
    public BatchOutcome run(EncoderModel model, TokenBatch batch, CpuThreads threads) {
        if (!paths.deviceUsable()) {
            return cpu.run(model, batch, threads);
        }
        return splitter.run(batch, part -> runWithFallbacks(model, part, threads));
    }

    /**
     * One batch (or part of a split batch) with path and precision fallbacks; out-of-memory goes
     * up to the splitter. Ends: every turn of the loop returns, throws, or excludes one more
     * GPU path, switches to fp32 (once) or loses the device (once).
     */
    private BatchOutcome runWithFallbacks(EncoderModel model, TokenBatch batch, CpuThreads threads) {
        String overflow = null; // set once fp16 overflowed: the batch runs in fp32 from then on
        boolean earlier = fp32Models.contains(model) && paths.mayRerunInFp32();
        while (true) {
            UserOverrides o = overflow == null && !earlier ? paths.overrides() : paths.fp32Overrides();
            AttentionChoice choice = select(BatchShape.of(batch).request(model), o);
            if (!choice.path().isGpu()) {
                BatchOutcome c = cpu.run(model, batch, threads);
                return overflow == null ? c : new BatchOutcome(c.hidden(), c.choice(), true, c.rowChoices());
            }
            // Entered before the usability check, so a lost device is released only once nobody can still call it.
            inFlight.incrementAndGet();
            if (!paths.deviceUsable()) {
                // Lost by another thread since this batch started.
                leaveDevice();
                BatchOutcome c = cpu.run(model, batch, threads);
                return overflow == null ? c : new BatchOutcome(c.hidden(), c.choice(), true, c.rowChoices());
            }
            try {
                float[] hidden = gpu.forward(model, batch, choice);
                if (overflow == null && earlier) {
                    return new BatchOutcome(
                            hidden,
                            new AttentionChoice(
                                    choice.path(),
                                    choice.dtype(),
                                    choice.queryChunk(),
                                    "fp16 overflowed for this model on this device earlier: it runs in fp32; "
                                            + choice.reason()),
                            false);
                }
                if (overflow == null) {
                    return new BatchOutcome(hidden, choice, false);
                }
                return new BatchOutcome(
                        hidden,
                        new AttentionChoice(
                                choice.path(),
                                choice.dtype(),
                                choice.queryChunk(),
                                "fp16 overflowed (" + overflow + "): batch re-run in fp32; " + choice.reason()),
                        true);
            } catch (PrecisionOverflowException e) {
                if (overflow != null || choice.dtype() == ComputeDtype.FP32 || !paths.mayRerunInFp32()) {
                    throw e;
                }
                overflow = e.getMessage();
                precisionFallbacks.increment();
                if (fp32Models.add(model)) {
                    // Batches in flight may still read the fp16 weights: the forward frees them after the last.
                    try {
                        gpu.retire(model, choice.dtype());
                    } catch (RuntimeException x) {
                        LOG.warn(
                                "{}: releasing the {} weights failed: {}",
                                device.label(),
                                choice.dtype(),
                                x.getMessage(),
                                x);
                    }
                }
                LOG.info(
                        "{}: {} ({}, {}): re-running the batch of {} rows in fp32",
                        device.label(),
                        e.getMessage(),
                        choice.path(),
                        choice.dtype(),
                        batch.rows());
            } catch (KernelFailureException e) {
                onKernelFailure(choice.path(), e.contextLost(), e.module(), e);
            } catch (KernelUnavailableException e) {
                onKernelFailure(choice.path(), false, e.module(), e);
            } finally {
                leaveDevice();
            }
        }
    }

    /**
     * Blames the module that failed: the attention path when the failed kernel is one of its own
     * (or when the failure, reported by a synchronization, names no module), the whole device when
     * it is a module every path needs.
     */
    private void onKernelFailure(AttentionPath path, boolean contextLost, String module, RuntimeException e) {
        boolean pathsOwn = module.isEmpty()
                || AttentionLaunch.moduleOf(path).map(module::equals).orElse(false);
        PathFallbackPolicy.Action next = pathsOwn
                ? paths.onFailure(path, contextLost, e.getMessage())
                : paths.onModuleFailure(module, contextLost, e.getMessage());
        if (next == PathFallbackPolicy.Action.DEVICE_LOST) {
            LOG.error(
                    "{}: device given up: {}; this batch and all later work of this device run on the host CPU",
                    device.label(),
                    paths.lostReason().orElse(e.getMessage()),
                    e);
        } else {
            LOG.warn(
                    "{}: attention path {} failed ({}): excluded on this device, the batch re-runs on the next path",
                    device.label(),
                    path,
                    e.getMessage(),
                    e);
        }
    }

    /** Leaves a call into the GPU; the last one out of a lost device releases it. */
    private void leaveDevice() {
        if (inFlight.decrementAndGet() == 0 && !paths.deviceUsable() && gpuClosed.compareAndSet(false, true)) {
            closeGpuQuietly();
        }
    }

    private void trimPool() {
        inFlight.incrementAndGet();
        try {
            if (paths.deviceUsable()) {
                gpu.trimPool();
            }
        } finally {
            leaveDevice();
        }
    }

    private void closeGpuQuietly() {
        try {
            gpu.close();
        } catch (RuntimeException e) {
            LOG.warn("{}: releasing the CUDA backend failed: {}", device.label(), e.getMessage(), e);
        }
    }

    /** The overrides this GPU selects with now: the user's, plus the paths whose kernels failed here. */
    public UserOverrides currentOverrides() {
        return paths.overrides();
    }

    /** Why the device was given up for the CPU, when it was. */
    public Optional<String> lostReason() {
        return paths.lostReason();
    }

    /** The attention paths that failed on this device and are no longer tried, with the reason. */
    public java.util.Map<AttentionPath, String> failedPaths() {
        return paths.failedPaths();
    }

    @Override
    public RunnerCounters counters() {
        return new RunnerCounters(splitter.splits(), paths.fallbacks(), precisionFallbacks.sum()).plus(cpu.counters());
    }

    /** Releases the GPU's resources; no batch may be running. */
    @Override
    public void close() {
        if (gpuClosed.compareAndSet(false, true)) {
            closeGpuQuietly();
        }
        cpu.close();
    }
}

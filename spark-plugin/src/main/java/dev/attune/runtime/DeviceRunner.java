package dev.attune.runtime;

import dev.attune.kernels.attention.AttentionKernel;
import dev.attune.kernels.attention.AttentionKernels;
import dev.attune.kernels.attention.MaskKind;
import dev.attune.kernels.cpu.CpuThreads;
import dev.attune.kernels.device.DeviceInfo;
import dev.attune.kernels.ops.CpuTensorOps;
import dev.attune.kernels.ops.CpuWeights;
import dev.attune.kernels.ops.TensorOps;
import dev.attune.kernels.ops.WeightUploader;
import dev.attune.kernels.precision.PrecisionOverflowException;
import dev.attune.kernels.select.AttentionChoice;
import dev.attune.kernels.select.AttentionRequest;
import dev.attune.kernels.select.AttentionSelector;
import dev.attune.kernels.select.ComputeDtype;
import dev.attune.kernels.select.KernelSupport;
import dev.attune.kernels.select.UserOverrides;
import dev.attune.model.EncoderModel;
import dev.attune.model.bert.BertEncoder;
import dev.attune.model.bert.TokenBatch;
import java.util.EnumMap;
import java.util.Map;
import java.util.WeakHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Function;

/**
 * Runs forward passes on one device, the host CPU or a simulated GPU: for each pass it asks the
 * selector for the path and dtype this device runs for the batch's shape, and carries it out on
 * the CPU implementation of the op contract ({@link CpuTensorOps}), in the device's precision.
 * Any model graph runs here ({@link #run(AttentionRequest, CpuThreads, Pass)}); encoders also
 * through the {@link BatchRunner} interface. Real GPUs use the CUDA backend ({@link GpuDeviceRunner}).
 *
 * <p>An fp16 overflow on a device whose policy chose fp16 for a bf16 or fp32 model re-runs that
 * batch in fp32 and is counted ({@link #precisionFallbacks()}), never silently.
 *
 * <p>Threading: safe for concurrent use; the rounded weights for a dtype are made once.
 */
public final class DeviceRunner implements BatchRunner {

    private final DeviceInfo device;
    private final UserOverrides overrides;
    private final double memoryFraction;
    private final int concurrentTasks;
    /**
     * Per model (weakly held, compared by identity: model classes keep Object.equals), its
     * resident weights per dtype: a model the runtime has closed and dropped takes its packed
     * weights with it instead of pinning them for the runner's life.
     */
    private final Map<Object, Map<ComputeDtype, Object>> resident = new WeakHashMap<>();

    private final AtomicLong precisionFallbacks = new AtomicLong();

    /** A runner whose device runs one task at a time (a command-line tool's); see the four-argument form. */
    public DeviceRunner(DeviceInfo device, UserOverrides overrides, double memoryFraction) {
        this(device, overrides, memoryFraction, 1);
    }

    /**
     * @param device          the CPU or a simulated device
     * @param overrides       the user's forced path, exclusions and dtype
     * @param memoryFraction  share of the device's free memory Attune may plan with
     * @param concurrentTasks tasks that may run on the device at once and so share that memory
     *                        ({@link AttuneSettings#concurrentTasksOn}); planners give each its share
     */
    public DeviceRunner(DeviceInfo device, UserOverrides overrides, double memoryFraction, int concurrentTasks) {
        if (device.isGpu() && !device.simulated()) {
            throw new IllegalArgumentException(device.label() + " is a real GPU: it runs on the CUDA backend");
        }
        if (concurrentTasks < 1) {
            throw new IllegalArgumentException("concurrent tasks must be at least 1, got " + concurrentTasks);
        }
        this.device = device;
        this.overrides = overrides;
        this.memoryFraction = memoryFraction;
        this.concurrentTasks = concurrentTasks;
    }

    @Override
    public DeviceInfo device() {
        return device;
    }

    /** The selector's choice for a batch of this shape (also used to report the plan). */
    @Override
    public AttentionChoice choose(EncoderModel model, int rows, int maxSeqLen, MaskKind mask) {
        return select(new BatchShape(rows, maxSeqLen, mask).request(model), overrides);
    }

    /** The selector sizes the math path's score chunks from one task's share of the memory. */
    private AttentionChoice select(AttentionRequest req, UserOverrides o) {
        return AttentionSelector.select(device, req, o, KernelSupport.SHIPPED, memoryFraction / concurrentTasks);
    }

    /**
     * One forward pass of any model graph, written against the op contract: given the ops of
     * the choice made for it, it returns what the caller needs from the pass.
     */
    @FunctionalInterface
    public interface Pass<R> {
        R run(TensorOps ops, AttentionChoice choice);
    }

    @Override
    public BatchOutcome run(EncoderModel model, TokenBatch batch, CpuThreads threads) {
        PassOutcome<float[]> o = run(BatchShape.of(batch).request(model), threads, (ops, choice) -> {
            BertEncoder.Resident weights = resident(model, choice.dtype(), model.encoder()::residentOn);
            return ops.download(model.encoder().forward(weights, batch, ops));
        });
        return new BatchOutcome(o.value(), o.choice(), o.precisionFallback());
    }

    /**
     * Runs {@code pass} on this device with the selector's choice for {@code request}. An fp16
     * overflow where the policy (not the user) chose fp16 re-runs the pass in fp32, asking the
     * selector again, and is counted; any other failure of the pass propagates.
     */
    public <R> PassOutcome<R> run(AttentionRequest request, CpuThreads threads, Pass<R> pass) {
        AttentionChoice choice = select(request, overrides);
        try {
            return new PassOutcome<>(pass.run(ops(choice, threads), choice), choice, false);
        } catch (PrecisionOverflowException e) {
            if (choice.dtype() == ComputeDtype.FP32 || overrides.dtype().isPresent()) {
                throw e;
            }
            precisionFallbacks.incrementAndGet();
            AttentionChoice again = select(request, overrides.forFp32Rerun());
            AttentionChoice fp32 = new AttentionChoice(
                    again.path(),
                    again.dtype(),
                    again.queryChunk(),
                    "fp16 overflowed (" + e.getMessage() + "): batch re-run in fp32; " + again.reason());
            return new PassOutcome<>(pass.run(ops(fp32, threads), fp32), fp32, true);
        }
    }

    /** The selector's choice for {@code request} on this device, with the user's overrides. */
    public AttentionChoice choose(AttentionRequest request) {
        return select(request, overrides);
    }

    /**
     * A fresh op set for one more pass under a choice this runner made (a generation runs one pass
     * per step under the choice of its first).
     */
    public TensorOps opsFor(AttentionChoice choice, CpuThreads threads) {
        return ops(choice, threads);
    }

    private TensorOps ops(AttentionChoice choice, CpuThreads threads) {
        AttentionKernel kernel = AttentionKernels.onCpuMemory(device, choice);
        return new CpuTensorOps(choice.dtype(), kernel, threads);
    }

    /**
     * A model's weights resident on this device in {@code dtype}, made once by {@code upload} and
     * kept while the model is reachable (keyed by the model's identity and the dtype). The
     * resident must not refer to the model, or it would keep it reachable. Concurrent callers for
     * one model wait for the first upload rather than make their own.
     */
    @SuppressWarnings("unchecked")
    public <W> W resident(Object model, ComputeDtype dtype, Function<WeightUploader, W> upload) {
        synchronized (resident) {
            return (W) resident.computeIfAbsent(model, m -> new EnumMap<>(ComputeDtype.class))
                    .computeIfAbsent(dtype, d -> upload.apply(new CpuWeights(d)));
        }
    }

    /** The share of the device's free memory this runner may plan with. */
    public double memoryFraction() {
        return memoryFraction;
    }

    /**
     * How many tasks may run on this device at once, sharing its memory: a planner gives one task
     * {@code MemoryPlanner.taskBudget(free, memoryFraction(), weights, concurrentTasks())}.
     */
    public int concurrentTasks() {
        return concurrentTasks;
    }

    public long precisionFallbacks() {
        return precisionFallbacks.get();
    }

    @Override
    public RunnerCounters counters() {
        return new RunnerCounters(0, 0, precisionFallbacks.get());
    }
}

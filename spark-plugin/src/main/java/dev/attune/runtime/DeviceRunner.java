package dev.attune.runtime;

import dev.attune.kernels.attention.AttentionKernel;
import dev.attune.kernels.attention.AttentionKernels;
import dev.attune.kernels.attention.MaskKind;
import dev.attune.kernels.cpu.CpuThreads;
import dev.attune.kernels.device.DeviceInfo;
import dev.attune.kernels.ops.CpuTensorOps;
import dev.attune.kernels.ops.CpuWeights;
import dev.attune.kernels.ops.TensorOps;
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

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Runs batches of one model on one device: for each batch it asks the selector for the path
 * and dtype this device runs for the batch's shape, and carries it out. The CPU and simulated
 * devices compute here; real GPUs use the CUDA backend ({@link GpuDeviceRunner}).
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
    private final Map<EncoderKey, BertEncoder.Resident> encoders = new ConcurrentHashMap<>();

    /** One model (by identity) in one dtype. */
    private record EncoderKey(EncoderModel model, ComputeDtype dtype) {
    }
    private final AtomicLong precisionFallbacks = new AtomicLong();

    public DeviceRunner(DeviceInfo device, UserOverrides overrides, double memoryFraction) {
        if (device.isGpu() && !device.simulated()) {
            throw new IllegalArgumentException(device.label() + " is a real GPU: it runs on the CUDA backend");
        }
        this.device = device;
        this.overrides = overrides;
        this.memoryFraction = memoryFraction;
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

    private AttentionChoice select(AttentionRequest req, UserOverrides o) {
        return AttentionSelector.select(device, req, o, KernelSupport.SHIPPED, memoryFraction);
    }

    @Override
    public BatchOutcome run(EncoderModel model, TokenBatch batch, CpuThreads threads) {
        AttentionChoice choice = choose(model, batch);
        try {
            return new BatchOutcome(forward(model, batch, choice, threads), choice, false);
        } catch (PrecisionOverflowException e) {
            if (choice.dtype() == ComputeDtype.FP32 || overrides.dtype().isPresent()) {
                throw e;
            }
            precisionFallbacks.incrementAndGet();
            AttentionChoice again = select(BatchShape.of(batch).request(model), overrides.forFp32Rerun());
            AttentionChoice fp32 = new AttentionChoice(again.path(), again.dtype(), again.queryChunk(),
                    "fp16 overflowed (" + e.getMessage() + "): batch re-run in fp32; " + again.reason());
            return new BatchOutcome(forward(model, batch, fp32, threads), fp32, true);
        }
    }

    private float[] forward(EncoderModel model, TokenBatch batch, AttentionChoice choice, CpuThreads threads) {
        AttentionKernel kernel = AttentionKernels.onCpuMemory(device, choice);
        BertEncoder.Resident weights = encoders.computeIfAbsent(new EncoderKey(model, choice.dtype()),
                k -> model.encoder().residentOn(new CpuWeights(k.dtype())));
        TensorOps ops = new CpuTensorOps(choice.dtype(), kernel, threads);
        return ops.download(model.encoder().forward(weights, batch, ops));
    }

    public long precisionFallbacks() {
        return precisionFallbacks.get();
    }

    @Override
    public RunnerCounters counters() {
        return new RunnerCounters(0, 0, precisionFallbacks.get());
    }
}

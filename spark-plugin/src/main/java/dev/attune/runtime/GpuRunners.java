package dev.attune.runtime;

import dev.attune.kernels.attention.MaskKind;
import dev.attune.kernels.cuda.CudaBackend;
import dev.attune.kernels.device.DeviceInfo;
import dev.attune.kernels.select.AttentionPath;
import dev.attune.kernels.select.AttentionRequest;
import dev.attune.kernels.select.AttentionSelector;
import dev.attune.kernels.select.ComputeDtype;
import dev.attune.kernels.select.KernelSupport;
import dev.attune.kernels.select.UserOverrides;
import java.util.Arrays;
import java.util.Optional;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * How a real GPU of the executor is served: by a {@link GpuDeviceRunner} when the shipped kernels
 * can run on it, the configuration allows a GPU path, and its CUDA backend opens; otherwise by
 * the host CPU, with the reason (for the inventory and the log).
 */
public final class GpuRunners {

    private static final Logger LOG = LoggerFactory.getLogger(GpuRunners.class);

    /** Note of a slot whose GPU computes on the CUDA backend. */
    public static final String CUDA = "cuda";

    private GpuRunners() {}

    /** The runner of one GPU and a line saying how it is served ({@link #CUDA} when on the GPU). */
    public record Served(BatchRunner runner, String note) {}

    /** Serves {@code gpu} with the CUDA backend ({@link CudaBackend#open}), one task at a time (a tool's). */
    public static Served serve(DeviceInfo gpu, UserOverrides overrides, double memoryFraction) {
        return serve(gpu, overrides, memoryFraction, 1);
    }

    /** Serves {@code gpu} with the CUDA backend for {@code concurrentTasks} tasks at once. */
    public static Served serve(DeviceInfo gpu, UserOverrides overrides, double memoryFraction, int concurrentTasks) {
        return serve(gpu, overrides, memoryFraction, concurrentTasks, d -> new CudaGpuForward(CudaBackend.open(d)));
    }

    /**
     * Serves {@code gpu}, opening its GPU work with {@code open}; any failure to open (a missing
     * driver library is a {@link LinkageError}) leaves the GPU to the CPU with the reason.
     */
    public static Served serve(
            DeviceInfo gpu, UserOverrides overrides, double memoryFraction, Function<DeviceInfo, GpuForward> open) {
        return serve(gpu, overrides, memoryFraction, 1, open);
    }

    /** As {@link #serve(DeviceInfo, UserOverrides, double, Function)} for {@code concurrentTasks} tasks at once. */
    public static Served serve(
            DeviceInfo gpu,
            UserOverrides overrides,
            double memoryFraction,
            int concurrentTasks,
            Function<DeviceInfo, GpuForward> open) {
        Optional<String> no = whyNoGpuPath(gpu, overrides);
        if (no.isPresent()) {
            String note = no.get() + ": served by the CPU";
            LOG.warn("{}: {}", gpu.label(), note);
            return new Served(new DeviceRunner(DeviceInfo.cpu(), overrides, memoryFraction), note);
        }
        GpuForward forward;
        try {
            forward = open.apply(gpu);
        } catch (RuntimeException | LinkageError e) {
            String note = "CUDA backend failed to open: " + e + ": served by the CPU";
            LOG.warn("{}: {}", gpu.label(), note, e);
            return new Served(new DeviceRunner(DeviceInfo.cpu(), overrides, memoryFraction), note);
        }
        BatchRunner host = new DeviceRunner(DeviceInfo.cpu(), GpuDeviceRunner.hostOverrides(overrides), memoryFraction);
        LOG.info("{}: computing on the CUDA backend", gpu.label());
        return new Served(new GpuDeviceRunner(gpu, overrides, memoryFraction, concurrentTasks, forward, host), CUDA);
    }

    /**
     * Why no GPU attention path can run on {@code gpu} at all, whatever the model: the shipped
     * kernels cannot run there (driver or architecture too old), or the configuration forces a
     * CPU path or excludes every GPU path. Empty when some GPU path may run.
     */
    public static Optional<String> whyNoGpuPath(DeviceInfo gpu, UserOverrides overrides) {
        // The driver and architecture gates are common to every GPU path; mem-efficient in fp32 has no others.
        AttentionRequest any = new AttentionRequest(ComputeDtype.FP32, 1, 64, 1, 1, MaskKind.NONE);
        Optional<String> gate = AttentionSelector.whyNot(
                AttentionPath.MEM_EFFICIENT, gpu, ComputeDtype.FP32, any, KernelSupport.SHIPPED);
        if (gate.isPresent()) {
            return gate;
        }
        if (overrides.forced().isPresent() && !overrides.forced().get().isGpu()) {
            return Optional.of("the configuration forces the CPU path "
                    + overrides.forced().get());
        }
        boolean allExcluded = Arrays.stream(AttentionPath.values())
                .filter(AttentionPath::isGpu)
                .allMatch(overrides.excluded()::contains);
        if (allExcluded) {
            return Optional.of("the configuration excludes every GPU attention path");
        }
        return Optional.empty();
    }
}

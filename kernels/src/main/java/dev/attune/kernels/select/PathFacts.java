package dev.attune.kernels.select;

import dev.attune.kernels.attention.MaskKind;
import dev.attune.kernels.device.ComputeCapability;
import dev.attune.kernels.device.DeviceInfo;
import java.util.EnumSet;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * What one attention path supports, declared in one place ({@link AttentionPath#facts()}): the
 * oldest GPU it runs on and the instructions that need it, the compute dtypes, the head widths,
 * the mask kinds, the decoder features it reads in place, and its memory growth. The selector
 * asks {@link #whyNot} and adds what only the device knows (which shipped PTX modules load there,
 * {@link KernelSupport}; whether a tile fits the GPU's shared memory).
 *
 * <p>These are facts of the path's algorithm, which the CUDA kernel implements on a real GPU and
 * the CPU emulation on a simulated one; whether this build ships the CUDA kernel for a family of
 * ops (today decoders have none) is the runtime's, which says so when it sends such work to the
 * CPU.
 *
 * @param minCapability   oldest GPU generation; null for a path that runs on the host CPU
 * @param hardwareNeed    the instructions that need {@code minCapability}, for the reason line
 * @param dtypes          compute dtypes the path runs in
 * @param dtypeNeed       why other dtypes are refused, for the reason line
 * @param headDimMultiple head_dim must be a multiple of this (1: any)
 * @param maxHeadDim      largest head_dim (0: any)
 * @param masks           mask kinds the path takes
 * @param groupedKv       reads grouped-query K/V heads in place (no copy per query head)
 * @param slidingWindow   applies a sliding attention window (Mistral)
 * @param sharedPrefix    reads a shared prompt's K/V for several continuations (prefix rows)
 * @param linearMemory    attention memory grows linearly with the sequence length
 */
public record PathFacts(
        ComputeCapability minCapability,
        String hardwareNeed,
        Set<ComputeDtype> dtypes,
        String dtypeNeed,
        int headDimMultiple,
        int maxHeadDim,
        Set<MaskKind> masks,
        boolean groupedKv,
        boolean slidingWindow,
        boolean sharedPrefix,
        boolean linearMemory) {

    public PathFacts {
        dtypes = Set.copyOf(dtypes);
        masks = Set.copyOf(masks);
        if (headDimMultiple < 1 || maxHeadDim < 0 || dtypes.isEmpty() || masks.isEmpty()) {
            throw new IllegalArgumentException("incomplete path facts");
        }
    }

    static final Set<MaskKind> ALL_MASKS = EnumSet.allOf(MaskKind.class);

    /** Whether the path runs on a GPU (as opposed to the host CPU). */
    public boolean gpu() {
        return minCapability != null;
    }

    /**
     * Why the path's algorithm cannot serve {@code req} on {@code device} computing in {@code
     * dtype}, or empty when it can: the GPU generation first, then dtype, head_dim, mask and
     * decoder features.
     */
    public Optional<String> whyNot(DeviceInfo device, ComputeDtype dtype, AttentionRequest req) {
        Optional<String> hw = whyNotHardware(device);
        return hw.isPresent() ? hw : whyNotWork(dtype, req);
    }

    /** Why {@code device} is not a GPU this path runs on, or empty when it is (or the path is a CPU path). */
    Optional<String> whyNotHardware(DeviceInfo device) {
        if (!gpu()) {
            return Optional.empty(); // the host CPU is always there
        }
        if (!device.isGpu()) {
            return Optional.of("it is a GPU path and " + device.label() + " is not a GPU");
        }
        ComputeCapability cc = device.capability();
        if (!cc.atLeast(minCapability)) {
            return Optional.of("needs " + minCapability.smName() + " or newer (" + hardwareNeed + "); " + device.name()
                    + " is " + cc.smName());
        }
        return Optional.empty();
    }

    /** Why the path cannot compute this request in {@code dtype}, or empty when it can. */
    Optional<String> whyNotWork(ComputeDtype dtype, AttentionRequest req) {
        if (!dtypes.contains(dtype)) {
            return Optional.of(dtypeNeed + " and the compute dtype is " + dtype);
        }
        if (req.headDim() % headDimMultiple != 0) {
            return Optional.of("head_dim " + req.headDim() + " is not a multiple of " + headDimMultiple);
        }
        if (maxHeadDim > 0 && req.headDim() > maxHeadDim) {
            return Optional.of("head_dim " + req.headDim() + " is above " + maxHeadDim);
        }
        if (!masks.contains(req.mask())) {
            return Optional.of(
                    "takes " + describe(masks) + " masks, not " + req.mask().id());
        }
        if (req.kvHeads() != req.heads() && !groupedKv) {
            return Optional.of("reads one K/V head per query head; the model has " + req.kvHeads() + " K/V heads for "
                    + req.heads() + " query heads");
        }
        if (req.slidingWindow() > 0 && !slidingWindow) {
            return Optional.of("has no sliding attention window (" + req.slidingWindow() + " tokens)");
        }
        if (req.sharedPrefix() && !sharedPrefix) {
            return Optional.of("cannot read a shared prompt's K/V for several continuations");
        }
        return Optional.empty();
    }

    private static String describe(Set<MaskKind> masks) {
        return masks.stream().sorted().map(MaskKind::id).collect(Collectors.joining("/"));
    }
}

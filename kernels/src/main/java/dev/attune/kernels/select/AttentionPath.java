package dev.attune.kernels.select;

import dev.attune.kernels.device.ComputeCapability;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.Locale;
import java.util.Optional;
import java.util.stream.Collectors;

/**
 * The attention paths Attune ships, by the names users write in configuration, each with its
 * {@link PathFacts}.
 */
public enum AttentionPath {
    /** Tiled online softmax on tensor cores, mma m16n8k16, fp16/bf16, cp.async; sm80 and newer. */
    FLASH_SM80(
            "flash-sm80",
            new PathFacts(
                    ComputeCapability.SM80,
                    "tensor-core mma m16n8k16, cp.async",
                    EnumSet.of(ComputeDtype.FP16, ComputeDtype.BF16),
                    "tensor-core flash needs fp16 or bf16",
                    8,
                    256,
                    PathFacts.ALL_MASKS,
                    true,
                    true,
                    true,
                    true)),
    /** The same algorithm on Turing instructions (mma m16n8k8 fp16, ldmatrix, 64 KB shared memory); sm75 and newer. */
    FLASH_SM75(
            "flash-sm75",
            new PathFacts(
                    ComputeCapability.SM75,
                    "mma m16n8k8, ldmatrix",
                    EnumSet.of(ComputeDtype.FP16),
                    "Turing tensor-core flash needs fp16 (Turing instructions have no bf16)",
                    8,
                    256,
                    PathFacts.ALL_MASKS,
                    true,
                    true,
                    true,
                    true)),
    /** Tiled online softmax on CUDA cores, fp32 accumulation, any head_dim; any GPU the shipped code runs on. */
    MEM_EFFICIENT("mem-efficient", gpuAnyShape(true)),
    /** Explicit scores, softmax, product on the GPU, chunked over queries to fit memory. */
    MATH("math", gpuAnyShape(false)),
    /** Tiled online softmax in Java, multithreaded, O(N) memory. */
    CPU_FLASH("cpu-flash", cpu(true)),
    /** The plain reference in Java with fp64 accumulation; the oracle of every test. */
    CPU_MATH("cpu-math", cpu(false));

    private final String id;
    private final PathFacts facts;

    AttentionPath(String id, PathFacts facts) {
        this.id = id;
        this.facts = facts;
    }

    /** A CUDA-core GPU path: every dtype, head_dim, mask and decoder feature, from the oldest shipped target. */
    private static PathFacts gpuAnyShape(boolean linearMemory) {
        return new PathFacts(
                ComputeCapability.NONE, // the PTX modules' .target decides (KernelSupport)
                "",
                EnumSet.allOf(ComputeDtype.class),
                "",
                1,
                0,
                PathFacts.ALL_MASKS,
                true,
                true,
                true,
                linearMemory);
    }

    /** A host CPU path: fp32 only (a simulated device's precision applies on the GPU paths). */
    private static PathFacts cpu(boolean linearMemory) {
        return new PathFacts(
                null,
                "",
                EnumSet.of(ComputeDtype.FP32),
                "the host CPU paths compute in fp32",
                1,
                0,
                PathFacts.ALL_MASKS,
                true,
                true,
                true,
                linearMemory);
    }

    /** What this path supports; the one place those facts are written. */
    public PathFacts facts() {
        return facts;
    }

    public String id() {
        return id;
    }

    public boolean isGpu() {
        return facts.gpu();
    }

    /** Whether the path's attention memory grows linearly with the sequence length. */
    public boolean linearMemory() {
        return facts.linearMemory();
    }

    public static Optional<AttentionPath> find(String id) {
        String s = id.trim().toLowerCase(Locale.ROOT);
        return Arrays.stream(values()).filter(p -> p.id.equals(s)).findFirst();
    }

    public static AttentionPath parse(String id) {
        return find(id).orElseThrow(() -> new IllegalArgumentException("unknown attention path '" + id + "'; paths are "
                + Arrays.stream(values()).map(AttentionPath::id).collect(Collectors.joining(", "))));
    }

    @Override
    public String toString() {
        return id;
    }
}

package dev.attune.kernels.select;

import java.util.Arrays;
import java.util.Locale;
import java.util.Optional;
import java.util.stream.Collectors;

/** The attention paths Attune ships, by the names users write in configuration. */
public enum AttentionPath {
    /** Tiled online softmax on tensor cores, mma m16n8k16, fp16/bf16, cp.async; sm80 and newer. */
    FLASH_SM80("flash-sm80", true),
    /** The same algorithm on Turing instructions (mma m16n8k8 fp16, ldmatrix, 64 KB shared memory); sm75 and newer. */
    FLASH_SM75("flash-sm75", true),
    /** Tiled online softmax on CUDA cores, fp32 accumulation, any head_dim; any GPU the shipped code runs on. */
    MEM_EFFICIENT("mem-efficient", true),
    /** Explicit scores, softmax, product on the GPU, chunked over queries to fit memory. */
    MATH("math", true),
    /** Tiled online softmax in Java, multithreaded, O(N) memory. */
    CPU_FLASH("cpu-flash", false),
    /** The plain reference in Java with fp64 accumulation; the oracle of every test. */
    CPU_MATH("cpu-math", false);

    private final String id;
    private final boolean gpu;

    AttentionPath(String id, boolean gpu) {
        this.id = id;
        this.gpu = gpu;
    }

    public String id() {
        return id;
    }

    public boolean isGpu() {
        return gpu;
    }

    /** Whether the path's attention memory grows linearly with the sequence length. */
    public boolean linearMemory() {
        return this != MATH && this != CPU_MATH;
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

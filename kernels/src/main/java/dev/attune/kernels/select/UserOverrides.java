package dev.attune.kernels.select;

import java.util.EnumSet;
import java.util.Optional;
import java.util.Set;

/**
 * What a user may impose on the selector: a forced path ({@code spark.attune.attention.path}),
 * excluded paths ({@code spark.attune.attention.exclude}) and a compute dtype
 * ({@code spark.attune.dtype}; applies to GPUs, the CPU always computes in fp32).
 */
public record UserOverrides(Optional<AttentionPath> forced, Set<AttentionPath> excluded, Optional<ComputeDtype> dtype) {

    public static final UserOverrides NONE = new UserOverrides(Optional.empty(), Set.of(), Optional.empty());

    public UserOverrides {
        excluded = excluded.isEmpty() ? Set.of() : Set.copyOf(EnumSet.copyOf(excluded));
        if (forced.isPresent() && excluded.contains(forced.get())) {
            throw new IllegalArgumentException("attention path " + forced.get() + " is both forced and excluded");
        }
    }

    public static UserOverrides force(AttentionPath p) {
        return new UserOverrides(Optional.of(p), Set.of(), Optional.empty());
    }

    public static UserOverrides exclude(AttentionPath... paths) {
        return new UserOverrides(Optional.empty(), Set.of(paths), Optional.empty());
    }

    public UserOverrides withDtype(ComputeDtype d) {
        return new UserOverrides(forced, excluded, Optional.of(d));
    }

    /**
     * The overrides a batch is re-run with after fp16 overflowed: fp32, the same exclusions, and
     * the forced path unless it is a tensor-core flash path (which has no fp32 kernel: the selector
     * then picks the best fp32 path itself).
     */
    public UserOverrides forFp32Rerun() {
        Optional<AttentionPath> keep =
                forced.filter(p -> p != AttentionPath.FLASH_SM80 && p != AttentionPath.FLASH_SM75);
        return new UserOverrides(keep, excluded, Optional.of(ComputeDtype.FP32));
    }
}

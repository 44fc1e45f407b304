package dev.attune.model.safetensors;

import java.util.Locale;
import java.util.Optional;

/** The element types of a safetensors file that Attune reads. */
public enum DType {
    F32(4),
    F16(2),
    BF16(2);

    private final int bytes;

    DType(int bytes) {
        this.bytes = bytes;
    }

    public int bytes() {
        return bytes;
    }

    /** The dtype the precision policy reads for weights stored in this type. */
    public dev.attune.kernels.select.ComputeDtype computeDtype() {
        return switch (this) {
            case F32 -> dev.attune.kernels.select.ComputeDtype.FP32;
            case F16 -> dev.attune.kernels.select.ComputeDtype.FP16;
            case BF16 -> dev.attune.kernels.select.ComputeDtype.BF16;
        };
    }

    /** The dtype for a header's {@code dtype} string, or empty for one Attune does not read. */
    public static Optional<DType> parse(String name) {
        if (name == null) {
            return Optional.empty();
        }
        try {
            return Optional.of(valueOf(name.toUpperCase(Locale.ROOT)));
        } catch (IllegalArgumentException e) {
            return Optional.empty();
        }
    }
}

package dev.attune.kernels.select;

import java.util.Locale;

/** The element type in which a path stores its operands; accumulation is always fp32 or wider. */
public enum ComputeDtype {
    FP32(4),
    FP16(2),
    BF16(2);

    private final int bytes;

    ComputeDtype(int bytes) {
        this.bytes = bytes;
    }

    public int bytes() {
        return bytes;
    }

    public String id() {
        return name().toLowerCase(Locale.ROOT);
    }

    public static ComputeDtype parse(String s) {
        return switch (s.trim().toLowerCase(Locale.ROOT)) {
            case "fp32", "float32", "f32", "float" -> FP32;
            case "fp16", "float16", "f16", "half" -> FP16;
            case "bf16", "bfloat16" -> BF16;
            default -> throw new IllegalArgumentException("unknown dtype '" + s + "'; use fp32, fp16 or bf16");
        };
    }

    @Override
    public String toString() {
        return id();
    }
}

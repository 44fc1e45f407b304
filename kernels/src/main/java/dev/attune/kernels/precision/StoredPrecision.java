package dev.attune.kernels.precision;

import dev.attune.kernels.cpu.CpuThreads;
import dev.attune.kernels.select.ComputeDtype;

/**
 * Rounds fp32 buffers to the values a device would store in its compute dtype (fp16 or bf16,
 * round to nearest even), so that a simulated device's arithmetic has the real device's
 * precision: the CPU accumulates in fp32 as the GPU's tensor cores do, and every stored
 * operand carries the dtype's rounding.
 */
public final class StoredPrecision {

    private StoredPrecision() {}

    /**
     * Rounds {@code x[0, n)} in place; for fp16, a finite value that overflows raises
     * {@link PrecisionOverflowException} naming {@code what}. fp32 is a no-op.
     */
    public static void round(float[] x, int n, ComputeDtype dtype, String what, CpuThreads threads) {
        if (dtype == ComputeDtype.FP32) {
            return;
        }
        threads.parallelFor(n, 4096, (from, to) -> {
            if (dtype == ComputeDtype.BF16) {
                for (int i = from; i < to; i++) {
                    x[i] = HalfFloats.roundToBf16(x[i]);
                }
                return;
            }
            for (int i = from; i < to; i++) {
                float v = x[i];
                if (Math.abs(v) > HalfFloats.FP16_MAX + 16f && Float.isFinite(v)) {
                    throw new PrecisionOverflowException(what + " holds " + v + ", beyond fp16's range (65504)");
                }
                x[i] = HalfFloats.roundToFp16(v);
            }
        });
    }

    /** The value a buffer of {@code dtype} holds for {@code v} (round to nearest even). */
    public static float round(float v, ComputeDtype dtype) {
        return switch (dtype) {
            case FP32 -> v;
            case FP16 -> HalfFloats.roundToFp16(v);
            case BF16 -> HalfFloats.roundToBf16(v);
        };
    }

    /** A rounded copy (weights are rounded once per dtype and kept). */
    public static float[] roundedCopy(float[] x, ComputeDtype dtype) {
        if (x == null || dtype == ComputeDtype.FP32) {
            return x;
        }
        float[] y = x.clone();
        for (int i = 0; i < y.length; i++) {
            y[i] = round(y[i], dtype);
        }
        return y;
    }
}

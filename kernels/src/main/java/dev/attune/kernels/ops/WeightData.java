package dev.attune.kernels.ops;

import dev.attune.kernels.cpu.PanelMatrix;

/**
 * A weight's values on the host, in the precision the checkpoint stores them: fp32, or bf16 kept
 * as its 16-bit patterns. A bf16 weight widened to fp32 is exact (a bf16 number is the top half
 * of an fp32 one), so keeping the patterns loses nothing and halves the bytes a product streams,
 * which is what bounds a decode step on the CPU.
 *
 * <p>A Linear weight may also be held already packed for the CPU GEMM ({@link Panels}): the CPU
 * then reads it in place, and the host keeps one copy of the model, not a row-major one beside
 * the CPU's packed one.
 *
 * <p>Immutable by convention: the arrays are shared, never copied, and must not be written once a
 * weight is made.
 */
public sealed interface WeightData permits WeightData.F32, WeightData.Bf16, WeightData.Panels {

    /** Number of values. */
    int length();

    /** The values as fp32: the array itself for {@link F32}, a widened copy for {@link Bf16}. */
    float[] toFloats();

    /** fp32 values. */
    record F32(float[] values) implements WeightData {
        @Override
        public int length() {
            return values.length;
        }

        @Override
        public float[] toFloats() {
            return values;
        }
    }

    /** bf16 values as their bit patterns (the upper 16 bits of the fp32 number). */
    record Bf16(short[] bits) implements WeightData {
        @Override
        public int length() {
            return bits.length;
        }

        @Override
        public float[] toFloats() {
            float[] out = new float[bits.length];
            for (int i = 0; i < bits.length; i++) {
                out[i] = toFloat(bits[i]);
            }
            return out;
        }

        /** The fp32 number whose upper half is {@code bits}. */
        public static float toFloat(short bits) {
            return Float.intBitsToFloat(bits << 16);
        }
    }

    /**
     * An (in, out) Linear weight packed into the CPU GEMM's panels, fp32 or bf16 as the checkpoint
     * stored it. {@link #toFloats()} unpacks a row-major (in, out) copy for a backend that needs one.
     */
    record Panels(PanelMatrix matrix) implements WeightData {
        @Override
        public int length() {
            return matrix.rows() * matrix.cols();
        }

        @Override
        public float[] toFloats() {
            return matrix.toRowMajor();
        }
    }
}

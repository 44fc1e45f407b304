package dev.attune.kernels.cuda;

import dev.attune.kernels.precision.HalfFloats;
import dev.attune.kernels.select.ComputeDtype;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * Host-side encoding of arrays into the little-endian bytes the device reads (fp32, fp16 or bf16
 * bits with round-to-nearest-even, int32) and back. Pure, stateless, thread-safe; the buffers'
 * positions and limits are left untouched.
 */
public final class HostConversion {

    private HostConversion() {}

    /** Writes {@code src[offset, offset + length)} as {@code dtype} into {@code dst} from byte {@code at}. */
    public static void putFloats(ByteBuffer dst, int at, float[] src, int offset, int length, ComputeDtype dtype) {
        ByteBuffer b = dst.duplicate().order(ByteOrder.LITTLE_ENDIAN);
        b.position(at);
        switch (dtype) {
            case FP32 -> b.asFloatBuffer().put(src, offset, length);
            case FP16 -> {
                for (int i = 0; i < length; i++) {
                    b.putShort(HalfFloats.floatToFp16(src[offset + i]));
                }
            }
            case BF16 -> {
                for (int i = 0; i < length; i++) {
                    b.putShort(HalfFloats.floatToBf16(src[offset + i]));
                }
            }
        }
    }

    /** Writes {@code src[offset, offset + length)} as int32 into {@code dst} from byte {@code at}. */
    public static void putInts(ByteBuffer dst, int at, int[] src, int offset, int length) {
        ByteBuffer b = dst.duplicate().order(ByteOrder.LITTLE_ENDIAN);
        b.position(at);
        b.asIntBuffer().put(src, offset, length);
    }

    /** Reads {@code length} fp32 values from byte {@code at} of {@code src} into {@code dst[offset..]}. */
    public static void getFloats(ByteBuffer src, int at, float[] dst, int offset, int length) {
        ByteBuffer b = src.duplicate().order(ByteOrder.LITTLE_ENDIAN);
        b.position(at);
        b.asFloatBuffer().get(dst, offset, length);
    }

    /** Reads {@code length} int32 values from byte {@code at} of {@code src} into {@code dst[offset..]}. */
    public static void getInts(ByteBuffer src, int at, int[] dst, int offset, int length) {
        ByteBuffer b = src.duplicate().order(ByteOrder.LITTLE_ENDIAN);
        b.position(at);
        b.asIntBuffer().get(dst, offset, length);
    }
}

package dev.attune.kernels.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.attune.kernels.precision.HalfFloats;
import dev.attune.kernels.select.ComputeDtype;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import org.junit.jupiter.api.Test;

class HostConversionTest {

    private static final float[] VALUES = {
        0f, -0f, 1f, -2.5f, 3.14159f, 65504f, 1e-8f, Float.NaN, Float.POSITIVE_INFINITY, 70000f
    };

    @Test
    void fp32IsLittleEndianAndRoundTrips() {
        ByteBuffer b = ByteBuffer.allocate(64).order(ByteOrder.BIG_ENDIAN); // order of the caller's buffer is ignored
        HostConversion.putFloats(b, 8, VALUES, 2, 3, ComputeDtype.FP32);
        assertEquals(0, b.position());
        assertEquals(Float.floatToIntBits(1f), b.order(ByteOrder.LITTLE_ENDIAN).getInt(8));
        float[] back = new float[3];
        HostConversion.getFloats(b, 8, back, 0, 3);
        assertArrayEquals(new float[] {1f, -2.5f, 3.14159f}, back);
    }

    @Test
    void halfFormatsRoundToNearestEven() {
        for (ComputeDtype dt : new ComputeDtype[] {ComputeDtype.FP16, ComputeDtype.BF16}) {
            ByteBuffer b = ByteBuffer.allocate(2 * VALUES.length + 4).order(ByteOrder.LITTLE_ENDIAN);
            HostConversion.putFloats(b, 4, VALUES, 0, VALUES.length, dt);
            for (int i = 0; i < VALUES.length; i++) {
                short want =
                        dt == ComputeDtype.FP16 ? HalfFloats.floatToFp16(VALUES[i]) : HalfFloats.floatToBf16(VALUES[i]);
                assertEquals(want, b.getShort(4 + 2 * i), dt + " of " + VALUES[i]);
            }
        }
    }

    @Test
    void intsRoundTrip() {
        int[] v = {0, -1, 7, Integer.MAX_VALUE, Integer.MIN_VALUE};
        ByteBuffer b = ByteBuffer.allocateDirect(32);
        HostConversion.putInts(b, 4, v, 1, 4);
        assertEquals(-1, b.order(ByteOrder.LITTLE_ENDIAN).getInt(4));
        int[] back = new int[5];
        HostConversion.getInts(b, 4, back, 1, 4);
        assertArrayEquals(new int[] {0, -1, 7, Integer.MAX_VALUE, Integer.MIN_VALUE}, back);
    }
}

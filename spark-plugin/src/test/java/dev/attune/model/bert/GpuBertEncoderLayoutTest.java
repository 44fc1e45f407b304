package dev.attune.model.bert;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** The host side of the GPU encoder's weight layout: (in, out) on the host becomes (out, in) on the device. */
class GpuBertEncoderLayoutTest {

    @Test
    void linearWeightsGoBackToPyTorchsOutInLayout() {
        // (in 2, out 3): row i holds output features 0..2 of input feature i.
        float[] inMajor = {1, 2, 3, 4, 5, 6};
        assertArrayEquals(new float[] {1, 4, 2, 5, 3, 6}, GpuBertEncoder.transpose(inMajor, 2, 3));
        assertThrows(IllegalArgumentException.class, () -> GpuBertEncoder.transpose(inMajor, 2, 2));
    }

    @Test
    void fusedQkvRowsAreQueryThenKeyThenValue() {
        int h = 2;
        // BertWeights' fused (hidden, 3·hidden): row i = q[i, :] | k[i, :] | v[i, :] in (in, out) form.
        float[] qkv = {
                10, 11, 20, 21, 30, 31,
                12, 13, 22, 23, 32, 33};
        float[] device = GpuBertEncoder.transpose(qkv, h, 3 * h);
        // (3·hidden, hidden): output rows 0..h-1 are the query's, h..2h-1 the key's, 2h..3h-1 the value's.
        assertArrayEquals(new float[] {10, 12, 11, 13, 20, 22, 21, 23, 30, 32, 31, 33}, device);
    }
}

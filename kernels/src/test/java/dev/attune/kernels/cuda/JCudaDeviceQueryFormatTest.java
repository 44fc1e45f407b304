package dev.attune.kernels.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

/** The formatting helpers of the JCuda query; they need no driver. */
class JCudaDeviceQueryFormatTest {

    @Test
    void formatsBusIdsAsTheDriverDoes() {
        assertEquals("0000:3b:00.0", JCudaDeviceQuery.pciBusId(0, 0x3b, 0));
        assertEquals("0001:af:1f.0", JCudaDeviceQuery.pciBusId(1, 0xaf, 0x1f));
    }

    @Test
    void formatsUuidsAsNvidiaSmiDoes() {
        byte[] b = new byte[16];
        int[] v = {0x89, 0x32, 0xf9, 0x37, 0xd7, 0x2c, 0x41, 0x06, 0xc1, 0x2f, 0x20, 0xbd, 0x9f, 0xae, 0xd9, 0xf6};
        for (int i = 0; i < 16; i++) {
            b[i] = (byte) v[i];
        }
        assertEquals("GPU-8932f937-d72c-4106-c12f-20bd9faed9f6", JCudaDeviceQuery.formatUuid(b));
        assertEquals("", JCudaDeviceQuery.formatUuid(new byte[3]));
    }
}

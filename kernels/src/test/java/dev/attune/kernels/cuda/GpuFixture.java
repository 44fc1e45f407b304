package dev.attune.kernels.cuda;

import static org.junit.jupiter.api.Assertions.assertFalse;

import dev.attune.kernels.device.DeviceInfo;
import dev.attune.kernels.device.GpuProbe;
import dev.attune.kernels.device.ProbeResult;
import dev.attune.kernels.precision.StoredPrecision;
import dev.attune.kernels.select.ComputeDtype;
import java.util.List;
import java.util.Random;

/** Shared pieces of the tests that run on a real GPU (tag "gpu"). */
final class GpuFixture {

    private GpuFixture() {}

    /** The first GPU the probe finds; fails (does not skip) when there is none, as GPU runs expect one. */
    static DeviceInfo firstGpu() {
        ProbeResult r = GpuProbe.probe(List.of());
        assertFalse(r.devices().isEmpty(), "GPU tests need a GPU: " + r.reason());
        return r.devices().get(0);
    }

    /** Uniform values in [-scale, scale), already rounded to the dtype. */
    static float[] random(Random rnd, int n, float scale, ComputeDtype dt) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = StoredPrecision.round((rnd.nextFloat() * 2 - 1) * scale, dt);
        }
        return a;
    }

    /** Half the distance between neighbouring values near 1: the relative rounding error of a result. */
    static double unitRoundoff(ComputeDtype dt) {
        return switch (dt) {
            case FP32 -> 0x1p-24;
            case FP16 -> 0x1p-11;
            case BF16 -> 0x1p-8;
        };
    }

    /** Prefix sums of row lengths, starting at 0. */
    static int[] cuSeqlens(int[] lengths) {
        int[] cu = new int[lengths.length + 1];
        for (int b = 0; b < lengths.length; b++) {
            cu[b + 1] = cu[b] + lengths[b];
        }
        return cu;
    }
}

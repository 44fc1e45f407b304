package dev.attune.model.safetensors;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.attune.kernels.precision.HalfFloats;
import java.io.IOException;
import java.lang.ref.WeakReference;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The writer's dtypes (F32, F16, BF16 with round-to-nearest-even, per tensor or per file), its
 * lazy tensors (computed in order, one at a time, each collectable once written) and its
 * atomicity on failure.
 */
class SafetensorsWriterTest {

    @TempDir
    Path dir;

    private static float[] random(int n, long seed, double scale) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = (float) ((r.nextDouble() - 0.5) * scale);
        }
        return x;
    }

    @Test
    void eachTensorIsStoredInItsDtypeRoundedToNearestEven() throws IOException {
        float[] a = random(1000, 1, 10);
        // Values exactly between two bf16 / fp16 neighbours: ties go to the even mantissa.
        float[] ties = {
            Float.intBitsToFloat(0x3f808000), Float.intBitsToFloat(0x3f818000), 1 + 0x1p-11f, 1 + 3 * 0x1p-11f
        };
        Path f = dir.resolve("m.safetensors");
        new SafetensorsWriter(DType.BF16)
                .add("bf", new long[] {10, 100}, a)
                .add("f16", DType.F16, new long[] {1000}, a)
                .add("f32", DType.F32, new long[] {1000}, a)
                .add("tiesBf", new long[] {4}, ties)
                .add("tiesF16", DType.F16, new long[] {4}, ties)
                .write(f);
        SafetensorsFile s = SafetensorsFile.open(f);
        assertEquals(DType.BF16, s.info("bf").dtype());
        assertEquals(DType.F16, s.info("f16").dtype());
        assertEquals(DType.F32, s.info("f32").dtype());
        assertEquals(2000, s.info("bf").byteLength());
        assertArrayEquals(a, s.readFloats("f32"));
        float[] bf = s.readFloats("bf");
        float[] h = s.readFloats("f16");
        for (int i = 0; i < a.length; i++) {
            assertEquals(HalfFloats.roundToBf16(a[i]), bf[i], 0f);
            assertEquals(HalfFloats.roundToFp16(a[i]), h[i], 0f);
            assertTrue(Math.abs(bf[i] - a[i]) <= Math.ulp(a[i]) * 0x1p15f, "bf16 within half a bf16 ulp");
        }
        assertArrayEquals(new float[] {1f, Float.intBitsToFloat(0x3f820000), 1f, 1 + 4 * 0x1p-11f}, new float[] {
            s.readFloats("tiesBf")[0], s.readFloats("tiesBf")[1], s.readFloats("tiesF16")[2], s.readFloats("tiesF16")[3]
        });
    }

    @Test
    void lazyTensorsAreComputedInOrderAndReleasedOnceWritten() throws IOException {
        int count = 6;
        int n = 1 << 22; // 16 MB of fp32 each
        List<Integer> calls = new ArrayList<>();
        List<WeakReference<float[]>> made = new ArrayList<>();
        SafetensorsWriter w = new SafetensorsWriter(DType.BF16);
        for (int t = 0; t < count; t++) {
            int id = t;
            w.add("t" + t, DType.BF16, new long[] {n}, () -> {
                calls.add(id);
                // Every earlier tensor's array must be collectable by now: the writer keeps none.
                System.gc();
                for (WeakReference<float[]> r : made) {
                    assertNull(
                            r.get(), "tensor " + made.indexOf(r) + " is still held when tensor " + id + " is computed");
                }
                float[] x = new float[n];
                java.util.Arrays.fill(x, id + 0.5f);
                made.add(new WeakReference<>(x));
                return x;
            });
        }
        assertTrue(calls.isEmpty(), "nothing is computed before write");
        assertEquals((long) count * n * 2, w.dataBytes());
        Path f = dir.resolve("lazy.safetensors");
        w.write(f);
        assertEquals(List.of(0, 1, 2, 3, 4, 5), calls);
        SafetensorsFile s = SafetensorsFile.open(f);
        for (int t = 0; t < count; t++) {
            float[] x = s.readFloats("t" + t);
            assertEquals(n, x.length);
            assertEquals(t + 0.5f, x[n - 1], 0f);
        }
    }

    @Test
    void aFailedWriteLeavesNoFileAndKeepsTheOldOne() throws IOException {
        Path f = dir.resolve("m.safetensors");
        new SafetensorsWriter().add("old", new long[] {1}, new float[] {7}).write(f);
        SafetensorsWriter wrongLength = new SafetensorsWriter().add("x", DType.F32, new long[] {3}, () -> new float[2]);
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> wrongLength.write(f));
        assertTrue(e.getMessage().contains("'x'"), e.getMessage());
        SafetensorsWriter overflow =
                new SafetensorsWriter().add("big", DType.F16, new long[] {2}, new float[] {1, 70000});
        IllegalArgumentException o = assertThrows(IllegalArgumentException.class, () -> overflow.write(f));
        assertTrue(o.getMessage().contains("'big'") && o.getMessage().contains("F16"), o.getMessage());
        assertArrayEquals(new float[] {7}, SafetensorsFile.open(f).readFloats("old"));
        try (Stream<Path> files = Files.list(dir)) {
            assertEquals(List.of(f), files.toList(), "no temporary file left behind");
        }
    }

    @Test
    void shapesAreChecked() {
        SafetensorsWriter w = new SafetensorsWriter();
        assertThrows(IllegalArgumentException.class, () -> w.add("a", new long[] {2, 2}, new float[3]));
        assertThrows(IllegalArgumentException.class, () -> w.add("a", DType.BF16, new long[] {-1}, () -> new float[0]));
        w.add("a", DType.BF16, new long[] {2}, () -> new float[2]);
        IllegalArgumentException twice =
                assertThrows(IllegalArgumentException.class, () -> w.add("a", new long[] {1}, new float[1]));
        assertTrue(twice.getMessage().contains("twice"));
        assertFalse(w.dataBytes() != 4);
    }
}

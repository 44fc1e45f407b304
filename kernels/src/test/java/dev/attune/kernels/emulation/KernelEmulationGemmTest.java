package dev.attune.kernels.emulation;

import dev.attune.kernels.cpu.CpuGemm;
import dev.attune.kernels.cpu.CpuOps;
import dev.attune.kernels.cpu.CpuThreads;
import dev.attune.kernels.cuda.launch.GemmLaunch;
import dev.attune.kernels.cuda.launch.GemmVariant;
import dev.attune.kernels.precision.StoredPrecision;
import dev.attune.kernels.select.ComputeDtype;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every GEMM kernel, from its CUDA source on the CPU emulator with {@link GemmLaunch}'s launch,
 * against {@link CpuGemm} (which takes w as (k, n): the GPU's w is (n, k), so it is transposed)
 * plus {@link CpuOps#geluErf} for the GELU epilogue. Shapes are ragged against the 128 × 128 (and
 * SIMT 64 × 64) tiles and the 32-deep (16-deep) k steps; the tensor-core variants get n and k
 * multiples of 8, as the backend guarantees before choosing them.
 */
class KernelEmulationGemmTest {

    static Stream<Arguments> cases() {
        return Stream.of(
                Arguments.of(GemmVariant.SM80, ComputeDtype.FP16, 1, 8, 8, true, false),
                Arguments.of(GemmVariant.SM80, ComputeDtype.FP16, 130, 136, 72, true, true),
                Arguments.of(GemmVariant.SM80, ComputeDtype.BF16, 200, 264, 40, false, false),
                Arguments.of(GemmVariant.SM80, ComputeDtype.BF16, 65, 24, 136, true, true),
                Arguments.of(GemmVariant.SM75, ComputeDtype.FP16, 1, 8, 8, false, true),
                Arguments.of(GemmVariant.SM75, ComputeDtype.FP16, 130, 136, 72, true, false),
                Arguments.of(GemmVariant.SM75, ComputeDtype.FP16, 200, 264, 40, true, true),
                Arguments.of(GemmVariant.SIMT, ComputeDtype.FP32, 1, 1, 1, true, false),
                Arguments.of(GemmVariant.SIMT, ComputeDtype.FP32, 70, 67, 33, true, true),
                Arguments.of(GemmVariant.SIMT, ComputeDtype.FP16, 129, 130, 17, false, false),
                Arguments.of(GemmVariant.SIMT, ComputeDtype.BF16, 65, 64, 40, true, true));
    }

    @ParameterizedTest(name = "{0} {1} m={2} n={3} k={4} bias {5} gelu {6}")
    @MethodSource("cases")
    void gemmMatchesCpuGemm(
            GemmVariant variant, ComputeDtype dtype, int m, int n, int k, boolean withBias, boolean gelu) {
        long seed = 1000L * m + 10L * n + k;
        float[] a = Close.random(dtype, m * k, 1f, seed);
        float[] w = Close.random(dtype, n * k, 1f, seed + 1);
        float[] bias = withBias ? Close.random(dtype, n, 1f, seed + 2) : null;

        float[] wt = new float[k * n]; // (k, n) for CpuGemm
        for (int j = 0; j < n; j++) {
            for (int kk = 0; kk < k; kk++) {
                wt[kk * n + j] = w[j * k + kk];
            }
        }
        float[] expected = new float[m * n];
        CpuGemm.matmul(a, m, k, wt, n, bias, expected, CpuThreads.single());
        if (gelu) {
            CpuOps.geluErf(expected, m, n, CpuThreads.single());
        }
        for (int i = 0; i < expected.length; i++) {
            expected[i] = StoredPrecision.round(expected[i], dtype);
        }

        for (boolean atIssue : variant == GemmVariant.SM80 ? new boolean[] {false, true} : new boolean[] {false}) {
            EmulatedRun run =
                    new EmulatedRun(variant.module()).cpAsyncAtIssue(atIssue).seed(seed);
            EmulatedRun.Buf da = run.in(dtype, a);
            EmulatedRun.Buf dw = run.in(dtype, w);
            EmulatedRun.Buf db = withBias ? run.in(dtype, bias) : null;
            EmulatedRun.Buf dc = run.out(dtype, m * n);
            run.launch(
                    GemmLaunch.shape(variant, dtype, m, n, k),
                    da,
                    dw,
                    db,
                    dc,
                    m,
                    n,
                    k,
                    gelu ? GemmLaunch.EPILOGUE_GELU : GemmLaunch.EPILOGUE_NONE);
            run.run();
            // Sums of k products of values in [-1, 1): fp32 accumulation differs from the CPU's
            // only in order; the output's own rounding dominates for fp16 and bf16.
            double ulp = switch (dtype) {
                case FP32 -> 1e-6;
                case FP16 -> 1.0 / 1024;
                case BF16 -> 1.0 / 128;
            };
            Close.assertClose(
                    variant + " " + dtype + (atIssue ? " (cp.async landing at issue)" : ""),
                    expected,
                    dc.floats(),
                    1e-4 * Math.sqrt(k) + ulp,
                    ulp);
            run.delete();
        }
    }
}

package dev.attune.kernels.emulation;

import dev.attune.kernels.attention.AttentionProblem;
import dev.attune.kernels.attention.CpuMathAttention;
import dev.attune.kernels.cpu.CpuThreads;
import dev.attune.kernels.cuda.launch.AttentionLaunch;
import dev.attune.kernels.cuda.launch.FlashSm75Launch;
import dev.attune.kernels.cuda.launch.FlashSm80Launch;
import dev.attune.kernels.cuda.launch.LaunchShape;
import dev.attune.kernels.cuda.launch.MathAttentionLaunch;
import dev.attune.kernels.cuda.launch.MemEfficientLaunch;
import dev.attune.kernels.select.ComputeDtype;
import java.util.Arrays;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every GPU attention path, run from its real CUDA source on the CPU emulator with the launch the
 * JCuda backend makes, against {@link CpuMathAttention} on the same (dtype-rounded) inputs.
 *
 * <p>Cases cover the head dimensions each path compiles (32, 40 → 64, 64, 72 → 96, 96, 128,
 * 136 → 160, 248 → 256, 256), ragged batches with a row of length 1 and rows at the tile edges
 * (63, 64, 65, 130), causal and not, separate Q/K/V and fused-QKV token strides. Each case is
 * small: the emulator runs a CUDA thread as a fiber.
 */
class KernelEmulationAttentionTest {

    private static final int[] EDGES = {65, 1, 63};
    private static final int[] LONG = {64, 130};

    static Stream<Arguments> fused() {
        return Stream.of(
                // flash-sm80, fp16 and bf16
                Arguments.of("flash_sm80", ComputeDtype.FP16, 32, 2, EDGES, true, false),
                Arguments.of("flash_sm80", ComputeDtype.BF16, 40, 1, LONG, false, true),
                Arguments.of("flash_sm80", ComputeDtype.FP16, 64, 2, LONG, true, true),
                Arguments.of("flash_sm80", ComputeDtype.BF16, 64, 1, EDGES, false, false),
                Arguments.of("flash_sm80", ComputeDtype.FP16, 72, 1, EDGES, false, true),
                Arguments.of("flash_sm80", ComputeDtype.BF16, 96, 1, LONG, true, false),
                Arguments.of("flash_sm80", ComputeDtype.FP16, 128, 1, LONG, false, false),
                Arguments.of("flash_sm80", ComputeDtype.BF16, 128, 1, EDGES, true, true),
                Arguments.of("flash_sm80", ComputeDtype.FP16, 136, 1, EDGES, true, false),
                Arguments.of("flash_sm80", ComputeDtype.BF16, 248, 1, EDGES, false, true),
                Arguments.of("flash_sm80", ComputeDtype.FP16, 256, 1, LONG, true, false),
                // flash-sm75, fp16 only
                Arguments.of("flash_sm75", ComputeDtype.FP16, 32, 2, LONG, false, false),
                Arguments.of("flash_sm75", ComputeDtype.FP16, 40, 1, EDGES, true, true),
                Arguments.of("flash_sm75", ComputeDtype.FP16, 64, 1, EDGES, false, false),
                Arguments.of("flash_sm75", ComputeDtype.FP16, 96, 1, LONG, true, true),
                Arguments.of("flash_sm75", ComputeDtype.FP16, 128, 1, EDGES, true, false),
                Arguments.of("flash_sm75", ComputeDtype.FP16, 136, 1, LONG, false, false),
                Arguments.of("flash_sm75", ComputeDtype.FP16, 248, 1, EDGES, true, true),
                Arguments.of("flash_sm75", ComputeDtype.FP16, 256, 1, EDGES, false, false),
                // mem-efficient, every dtype, any head dimension
                Arguments.of("mem_efficient", ComputeDtype.FP32, 32, 2, EDGES, true, false),
                Arguments.of("mem_efficient", ComputeDtype.FP16, 40, 1, LONG, false, true),
                Arguments.of("mem_efficient", ComputeDtype.BF16, 64, 1, EDGES, false, false),
                Arguments.of("mem_efficient", ComputeDtype.FP32, 72, 1, EDGES, true, true),
                Arguments.of("mem_efficient", ComputeDtype.FP16, 96, 1, EDGES, true, false),
                Arguments.of("mem_efficient", ComputeDtype.BF16, 128, 1, LONG, true, true),
                Arguments.of("mem_efficient", ComputeDtype.FP32, 200, 1, EDGES, false, false),
                Arguments.of("mem_efficient", ComputeDtype.FP16, 256, 1, EDGES, true, false));
    }

    @ParameterizedTest(name = "{0} {1} head_dim {2} x{3} heads, lengths {4}, causal {5}, fused QKV {6}")
    @MethodSource("fused")
    void fusedPathMatchesCpuMath(
            String module,
            ComputeDtype dtype,
            int headDim,
            int heads,
            int[] lengths,
            boolean causal,
            boolean fusedQkv) {
        AttentionLaunch launch = switch (module) {
            case "flash_sm80" -> FlashSm80Launch.INSTANCE;
            case "flash_sm75" -> FlashSm75Launch.INSTANCE;
            default -> MemEfficientLaunch.INSTANCE;
        };
        Case c = new Case(dtype, headDim, heads, lengths, causal, fusedQkv);
        // flash-sm80 pipelines with cp.async: once with copies landing at their wait, once at
        // issue (a prefetch racing a stage still being read then corrupts the result).
        for (boolean atIssue : module.equals("flash_sm80") ? new boolean[] {false, true} : new boolean[] {false}) {
            EmulatedRun run =
                    new EmulatedRun(launch.module()).cpAsyncAtIssue(atIssue).seed(headDim);
            Object[] qkv = c.upload(run);
            EmulatedRun.Buf o = run.out(dtype, c.tokens() * c.width());
            EmulatedRun.Buf cu = run.ints(c.problem.cuSeqlens());
            LaunchShape shape = launch.shape(dtype, headDim, heads, c.problem.batch(), c.problem.maxSeqLen());
            run.launch(
                    shape,
                    qkv[0],
                    qkv[1],
                    qkv[2],
                    o,
                    cu,
                    heads,
                    headDim,
                    c.qStride(),
                    c.qStride(),
                    c.width(),
                    c.problem.scale(),
                    causal ? 1 : 0);
            run.run();
            c.check(module + (atIssue ? " (cp.async landing at issue)" : ""), o.floats());
            run.delete();
        }
    }

    static Stream<Arguments> math() {
        return Stream.of(
                Arguments.of(ComputeDtype.FP32, 32, 2, EDGES, true, false, 40),
                Arguments.of(ComputeDtype.FP16, 64, 1, LONG, false, true, 64),
                Arguments.of(ComputeDtype.FP16, 96, 1, EDGES, true, true, 65),
                Arguments.of(ComputeDtype.FP32, 136, 1, LONG, false, false, 100),
                Arguments.of(ComputeDtype.BF16, 40, 1, EDGES, false, false, 30));
    }

    /** The explicit path: scores, softmax and P·V per query chunk, as the backend chunks them. */
    @ParameterizedTest(name = "math {0} head_dim {1} x{2} heads, lengths {3}, causal {4}, fused QKV {5}, chunk {6}")
    @MethodSource("math")
    void mathPathMatchesCpuMath(
            ComputeDtype dtype, int headDim, int heads, int[] lengths, boolean causal, boolean fusedQkv, int chunk) {
        MathAttentionLaunch launch = MathAttentionLaunch.INSTANCE;
        Case c = new Case(dtype, headDim, heads, lengths, causal, fusedQkv);
        int batch = c.problem.batch();
        int maxSeqlen = c.problem.maxSeqLen();
        EmulatedRun run = new EmulatedRun(launch.module());
        Object[] qkv = c.upload(run);
        EmulatedRun.Buf o = run.out(dtype, c.tokens() * c.width());
        EmulatedRun.Buf cu = run.ints(c.problem.cuSeqlens());
        EmulatedRun.Buf s = run.out(ComputeDtype.FP32, batch * heads * chunk * maxSeqlen);
        for (int begin = 0; begin < maxSeqlen; begin += chunk) {
            int count = Math.min(chunk, maxSeqlen - begin);
            run.launch(
                    launch.scores(dtype, heads, batch, maxSeqlen, count),
                    qkv[0],
                    qkv[1],
                    s,
                    cu,
                    batch,
                    heads,
                    headDim,
                    c.qStride(),
                    c.qStride(),
                    maxSeqlen,
                    begin,
                    count,
                    c.problem.scale(),
                    causal ? 1 : 0);
            run.launch(launch.softmax(heads, batch, count), s, cu, batch, heads, maxSeqlen, begin, count);
            run.launch(
                    launch.pv(dtype, headDim, heads, batch, count),
                    s,
                    qkv[2],
                    o,
                    cu,
                    batch,
                    heads,
                    headDim,
                    c.qStride(),
                    c.width(),
                    maxSeqlen,
                    begin,
                    count);
        }
        run.run();
        c.check("math", o.floats());
        run.delete();
    }

    /** One attention problem: inputs rounded to the dtype, laid out as the GPU path receives them. */
    private static final class Case {
        final ComputeDtype dtype;
        final AttentionProblem problem;
        final boolean fused;
        final float[] q;
        final float[] k;
        final float[] v;

        Case(ComputeDtype dtype, int headDim, int heads, int[] lengths, boolean causal, boolean fusedQkv) {
            this.dtype = dtype;
            this.fused = fusedQkv;
            int[] cu = new int[lengths.length + 1];
            for (int b = 0; b < lengths.length; b++) {
                cu[b + 1] = cu[b] + lengths[b];
            }
            int w = heads * headDim;
            float scale = (float) (1.0 / Math.sqrt(headDim));
            problem = fusedQkv
                    ? AttentionProblem.fusedQkv(cu, heads, headDim, causal)
                    : new AttentionProblem(cu, heads, headDim, causal, scale, w, 0, 0, 0);
            long seed = 31L * headDim + heads + 7L * cu[lengths.length] + (causal ? 1 : 0) + dtype.ordinal() * 101L;
            // Scores of a few units, so the softmax is neither flat nor one-hot.
            float range = (float) Math.sqrt(3.0 * 2.0);
            if (fusedQkv) {
                q = Close.random(dtype, cu[lengths.length] * 3 * w, range, seed);
                k = q;
                v = q;
            } else {
                q = Close.random(dtype, cu[lengths.length] * w, range, seed);
                k = Close.random(dtype, cu[lengths.length] * w, range, seed + 1);
                v = Close.random(dtype, cu[lengths.length] * w, 1f, seed + 2);
            }
        }

        int tokens() {
            return problem.totalTokens();
        }

        int width() {
            return problem.heads() * problem.headDim();
        }

        /** Token stride of Q, K and V, in elements. */
        int qStride() {
            return problem.rowStride();
        }

        /** q, k, v pointers: three buffers, or one fused buffer at the Q, K and V offsets. */
        Object[] upload(EmulatedRun run) {
            if (fused) {
                EmulatedRun.Buf all = run.in(dtype, q);
                return new Object[] {all, all.at(problem.kOffset()), all.at(problem.vOffset())};
            }
            return new Object[] {run.in(dtype, q), run.in(dtype, k), run.in(dtype, v)};
        }

        void check(String path, float[] actual) {
            float[] expected = new float[tokens() * width()];
            new CpuMathAttention().forward(problem, q, k, v, expected, CpuThreads.single());
            // The kernels round P to the dtype for P·V (flash) and the output to the dtype.
            double atol = switch (dtype) {
                case FP32 -> 2e-5;
                case FP16 -> 4e-3;
                case BF16 -> 3e-2;
            };
            Close.assertClose(
                    path + " " + dtype + " " + problem.headDim() + " lengths "
                            + Arrays.toString(Arrays.copyOfRange(problem.cuSeqlens(), 1, problem.batch() + 1)),
                    expected,
                    actual,
                    atol,
                    atol);
        }
    }
}

package dev.attune.kernels.emulation;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import dev.attune.kernels.cpu.CpuOps;
import dev.attune.kernels.cpu.CpuThreads;
import dev.attune.kernels.cuda.launch.EncoderOpsLaunch;
import dev.attune.kernels.precision.StoredPrecision;
import dev.attune.kernels.select.ComputeDtype;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The encoder ops of {@code encoder_ops.cu}, from the CUDA source on the CPU emulator with
 * {@link EncoderOpsLaunch}'s launches, against {@link CpuOps} and plain loops, for every dtype.
 * Outputs are compared after rounding the reference to the dtype, within one unit of its last
 * place plus fp32 slack.
 */
class KernelEmulationOpsTest {

    private static double tol(ComputeDtype dtype) {
        return switch (dtype) {
            case FP32 -> 2e-5;
            case FP16 -> 2.0 / 1024;
            case BF16 -> 2.0 / 128;
        };
    }

    private static float[] rounded(ComputeDtype dtype, float[] x) {
        float[] r = x.clone();
        for (int i = 0; i < r.length; i++) {
            r[i] = StoredPrecision.round(r[i], dtype);
        }
        return r;
    }

    /** Rows narrower than the register cache (two passes) and wider (Welford), with and without residual. */
    @ParameterizedTest
    @EnumSource(ComputeDtype.class)
    void addLayerNorm(ComputeDtype dtype) {
        for (int hidden : new int[] {100, 1100}) {
            for (boolean withResidual : new boolean[] {true, false}) {
                int rows = 3;
                float[] x = Close.random(dtype, rows * hidden, 2f, hidden);
                float[] res = withResidual ? Close.random(dtype, rows * hidden, 2f, hidden + 1) : null;
                float[] gamma = Close.random(dtype, hidden, 1.5f, hidden + 2);
                float[] beta = Close.random(dtype, hidden, 0.5f, hidden + 3);
                float eps = 1e-5f;
                float[] expected = x.clone();
                if (withResidual) { // the kernel rounds nothing before normalising: x + r in fp32
                    CpuOps.addLayerNorm(expected, res, rows, hidden, gamma, beta, eps, CpuThreads.single());
                } else {
                    CpuOps.addLayerNorm(expected, null, rows, hidden, gamma, beta, eps, CpuThreads.single());
                }
                EmulatedRun run = new EmulatedRun(EncoderOpsLaunch.MODULE);
                EmulatedRun.Buf dx = run.inout(dtype, x);
                run.launch(
                        EncoderOpsLaunch.perRow("add_layernorm", dtype, rows),
                        dx,
                        withResidual ? run.in(dtype, res) : null,
                        run.in(dtype, gamma),
                        run.in(dtype, beta),
                        eps,
                        rows,
                        hidden);
                run.run();
                Close.assertClose(
                        "add_layernorm " + dtype + " hidden " + hidden + " residual " + withResidual,
                        rounded(dtype, expected),
                        dx.floats(),
                        4 * tol(dtype),
                        tol(dtype));
                run.delete();
            }
        }
    }

    @ParameterizedTest
    @EnumSource(ComputeDtype.class)
    void embedSumsTheThreeTables(ComputeDtype dtype) {
        int hidden = 200;
        int tokens = 5;
        float[] word = Close.random(dtype, 7 * hidden, 1f, 1);
        float[] pos = Close.random(dtype, 6 * hidden, 1f, 2);
        float[] type = Close.random(dtype, 2 * hidden, 1f, 3);
        int[] ids = {3, 0, 6, 6, 1};
        int[] typeIds = {0, 1, 1, 0, 1};
        int[] posIds = {0, 1, 2, 3, 5};
        for (boolean withType : new boolean[] {true, false}) {
            float[] expected = new float[tokens * hidden];
            for (int t = 0; t < tokens; t++) {
                for (int h = 0; h < hidden; h++) {
                    float v = word[ids[t] * hidden + h] + pos[posIds[t] * hidden + h];
                    if (withType) {
                        v += type[typeIds[t] * hidden + h];
                    }
                    expected[t * hidden + h] = StoredPrecision.round(v, dtype);
                }
            }
            EmulatedRun run = new EmulatedRun(EncoderOpsLaunch.MODULE);
            EmulatedRun.Buf out = run.out(dtype, tokens * hidden);
            run.launch(
                    EncoderOpsLaunch.perRow("embed", dtype, tokens),
                    run.ints(ids),
                    withType ? run.ints(typeIds) : null,
                    run.ints(posIds),
                    run.in(dtype, word),
                    run.in(dtype, pos),
                    withType ? run.in(dtype, type) : null,
                    out,
                    tokens,
                    hidden);
            run.run();
            Close.assertClose("embed " + dtype, expected, out.floats(), tol(dtype), tol(dtype));
            run.delete();
        }
    }

    /**
     * gather_rows as the op contract's gatherRows: word rows, then position and token-type rows
     * added with accumulate, as {@code CpuTensorOps} does it, with the dtype's rounding after each
     * store of the output (the kernel sums in fp32 and rounds once per launch).
     */
    @ParameterizedTest
    @EnumSource(ComputeDtype.class)
    void gatherRowsCopiesThenAccumulates(ComputeDtype dtype) {
        int width = 200; // wider than one block's 128 threads: the stride loop is exercised
        int tokens = 5;
        float[] word = Close.random(dtype, 7 * width, 1f, 21);
        float[] pos = Close.random(dtype, 6 * width, 1f, 22);
        float[] type = Close.random(dtype, 2 * width, 1f, 23);
        int[] ids = {3, 0, 6, 6, 1};
        int[] posIds = {0, 1, 2, 3, 5};
        int[] typeIds = {0, 1, 1, 0, 1};
        float[] copied = new float[tokens * width];
        float[] expected = new float[tokens * width];
        for (int t = 0; t < tokens; t++) {
            for (int h = 0; h < width; h++) {
                copied[t * width + h] = word[ids[t] * width + h];
                float wp = StoredPrecision.round(word[ids[t] * width + h] + pos[posIds[t] * width + h], dtype);
                expected[t * width + h] = StoredPrecision.round(wp + type[typeIds[t] * width + h], dtype);
            }
        }
        EmulatedRun run = new EmulatedRun(EncoderOpsLaunch.MODULE);
        EmulatedRun.Buf once = run.out(dtype, tokens * width);
        EmulatedRun.Buf out = run.out(dtype, tokens * width);
        EmulatedRun.Buf dword = run.in(dtype, word);
        EmulatedRun.Buf dids = run.ints(ids);
        run.launch(EncoderOpsLaunch.perRow("gather_rows", dtype, tokens), dids, dword, once, tokens, width, 0);
        run.launch(EncoderOpsLaunch.perRow("gather_rows", dtype, tokens), dids, dword, out, tokens, width, 0);
        run.launch(
                EncoderOpsLaunch.perRow("gather_rows", dtype, tokens),
                run.ints(posIds),
                run.in(dtype, pos),
                out,
                tokens,
                width,
                1);
        run.launch(
                EncoderOpsLaunch.perRow("gather_rows", dtype, tokens),
                run.ints(typeIds),
                run.in(dtype, type),
                out,
                tokens,
                width,
                1);
        run.run();
        Close.assertClose("gather_rows " + dtype, copied, once.floats(), 0, 0);
        Close.assertClose("gather_rows accumulate " + dtype, expected, out.floats(), 0, 0);
        run.delete();
    }

    /** Pooling over ragged rows, one of them empty (zeros), then the fp32 L2 normalisation. */
    @ParameterizedTest
    @EnumSource(ComputeDtype.class)
    void poolMeanClsAndNormalize(ComputeDtype dtype) {
        int hidden = 300;
        int[] cu = {0, 4, 4, 5, 9};
        int batch = cu.length - 1;
        float[] x = Close.random(dtype, cu[batch] * hidden, 2f, 9);
        float[] mean = new float[batch * hidden];
        float[] cls = new float[batch * hidden];
        for (int b = 0; b < batch; b++) {
            for (int h = 0; h < hidden; h++) {
                double s = 0;
                for (int t = cu[b]; t < cu[b + 1]; t++) {
                    s += x[t * hidden + h];
                }
                int len = cu[b + 1] - cu[b];
                mean[b * hidden + h] = len == 0 ? 0f : (float) (s / len);
                cls[b * hidden + h] = len == 0 ? 0f : x[cu[b] * hidden + h];
            }
        }
        float[] normalized = mean.clone();
        for (int b = 0; b < batch; b++) {
            double ss = 0;
            for (int h = 0; h < hidden; h++) {
                ss += (double) normalized[b * hidden + h] * normalized[b * hidden + h];
            }
            double denom = Math.max(Math.sqrt(ss), 1e-12);
            for (int h = 0; h < hidden; h++) {
                normalized[b * hidden + h] = (float) (normalized[b * hidden + h] / denom);
            }
        }
        EmulatedRun run = new EmulatedRun(EncoderOpsLaunch.MODULE);
        EmulatedRun.Buf dx = run.in(dtype, x);
        EmulatedRun.Buf dcu = run.ints(cu);
        EmulatedRun.Buf dmean = run.out(ComputeDtype.FP32, batch * hidden);
        EmulatedRun.Buf dcls = run.out(ComputeDtype.FP32, batch * hidden);
        EmulatedRun.Buf dnorm = run.out(ComputeDtype.FP32, batch * hidden);
        run.launch(EncoderOpsLaunch.perRow("pool_mean", dtype, batch), dx, dcu, batch, hidden, dmean);
        run.launch(EncoderOpsLaunch.perRow("pool_cls", dtype, batch), dx, dcu, batch, hidden, dcls);
        run.launch(EncoderOpsLaunch.perRow("pool_mean", dtype, batch), dx, dcu, batch, hidden, dnorm);
        run.launch(EncoderOpsLaunch.perRow("l2_normalize", ComputeDtype.FP32, batch), dnorm, batch, hidden, 1e-12f);
        run.run();
        Close.assertClose("pool_mean " + dtype, mean, dmean.floats(), 1e-5, 1e-5);
        Close.assertClose("pool_cls " + dtype, cls, dcls.floats(), 0, 0);
        Close.assertClose("l2_normalize after pool_mean " + dtype, normalized, dnorm.floats(), 1e-6, 1e-5);
        run.delete();
    }

    /** gelu, residual_add, to_f32, from_f32 and count_nonfinite, on a grid-stride launch. */
    @ParameterizedTest
    @EnumSource(ComputeDtype.class)
    void elementwise(ComputeDtype dtype) {
        int n = 1000;
        float[] x = Close.random(dtype, n, 4f, 11);
        float[] r = Close.random(dtype, n, 4f, 12);
        x[17] = Float.NaN;
        x[400] = Float.POSITIVE_INFINITY;
        float[] gelu = x.clone();
        CpuOps.geluErf(gelu, 1, n, CpuThreads.single());
        float[] sum = new float[n];
        for (int i = 0; i < n; i++) {
            sum[i] = StoredPrecision.round(x[i] + r[i], dtype);
        }
        float[] wide = Close.random(ComputeDtype.FP32, n, 4f, 13);

        EmulatedRun run = new EmulatedRun(EncoderOpsLaunch.MODULE);
        EmulatedRun.Buf dgelu = run.inout(dtype, x);
        EmulatedRun.Buf dsum = run.inout(dtype, x);
        EmulatedRun.Buf dr = run.in(dtype, r);
        EmulatedRun.Buf dx = run.in(dtype, x);
        EmulatedRun.Buf dcount = run.intsInout(new int[] {5});
        EmulatedRun.Buf dwide = run.out(ComputeDtype.FP32, n);
        EmulatedRun.Buf dnarrow = run.out(dtype, n);
        long len = n;
        run.launch(EncoderOpsLaunch.elementwise("gelu", dtype, n), dgelu, len);
        run.launch(EncoderOpsLaunch.elementwise("residual_add", dtype, n), dsum, dr, len);
        run.launch(EncoderOpsLaunch.elementwise("count_nonfinite", dtype, n), dx, len, dcount);
        run.launch(EncoderOpsLaunch.elementwise("to_f32", dtype, n), dx, dwide, len);
        run.launch(EncoderOpsLaunch.elementwise("from_f32", dtype, n), run.in(ComputeDtype.FP32, wide), dnarrow, len);
        run.run();
        float[] g = dgelu.floats();
        float[] s = dsum.floats();
        assertArrayEquals(new float[] {Float.NaN, Float.POSITIVE_INFINITY}, new float[] {g[17], g[400]});
        assertArrayEquals(new float[] {Float.NaN, Float.POSITIVE_INFINITY}, new float[] {s[17], s[400]});
        g[17] = 0;
        g[400] = 0;
        s[17] = 0;
        s[400] = 0;
        gelu = rounded(dtype, gelu);
        gelu[17] = 0;
        gelu[400] = 0;
        sum[17] = 0;
        sum[400] = 0;
        Close.assertClose("gelu " + dtype, gelu, g, tol(dtype), tol(dtype));
        Close.assertClose("residual_add " + dtype, sum, s, 0, 0);
        assertArrayEquals(new int[] {5 + 2}, dcount.ints(), "count_nonfinite adds to the counter");
        assertArrayEquals(x, dwide.floats(), "to_f32 is exact");
        Close.assertClose("from_f32 " + dtype, rounded(dtype, wide), dnarrow.floats(), 0, 0);
        run.delete();
    }
}

package dev.attune.kernels.ops;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.attune.kernels.attention.CpuMathAttention;
import dev.attune.kernels.cpu.CpuGemm;
import dev.attune.kernels.cpu.CpuThreads;
import dev.attune.kernels.cpu.PanelMatrix;
import dev.attune.kernels.precision.HalfFloats;
import dev.attune.kernels.precision.PrecisionOverflowException;
import dev.attune.kernels.select.ComputeDtype;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The decoder ops of the CPU op contract against the formulas written out here in double:
 * RMSNorm with the fused residual add, per-head RMSNorm, rotary embedding in the rotate-halves
 * convention, SiLU-gated activation, row gathers, and the log-softmax gather of token
 * log-probabilities (against explicit logits), plus the precision rules of a simulated device.
 */
class CpuTensorOpsTest {

    private static CpuThreads threads;

    @BeforeAll
    static void start() {
        threads = new CpuThreads(2);
    }

    @AfterAll
    static void stop() {
        threads.close();
    }

    private static CpuTensorOps fp32() {
        return new CpuTensorOps(ComputeDtype.FP32, new CpuMathAttention(), threads);
    }

    /** bf16 patterns of standard normal values. */
    private static short[] gaussianBf16(Random r, int size) {
        short[] bits = new short[size];
        for (int i = 0; i < size; i++) {
            bits[i] = (short) (Float.floatToRawIntBits((float) r.nextGaussian()) >>> 16);
        }
        return bits;
    }

    private static CpuTensor random(int rows, int cols, long seed) {
        Random r = new Random(seed);
        float[] a = new float[rows * cols];
        for (int i = 0; i < a.length; i++) {
            a[i] = (float) r.nextGaussian();
        }
        return new CpuTensor(a, rows, cols);
    }

    private static void close(double want, float got, double tol, String what) {
        assertTrue(Math.abs(want - got) <= tol * Math.max(1, Math.abs(want)), what + ": want " + want + ", got " + got);
    }

    @Test
    void addRmsNormAddsTheDeltaThenNormalises() {
        int rows = 5;
        int w = 48;
        CpuTensor stream = random(rows, w, 1);
        CpuTensor delta = random(rows, w, 2);
        CpuTensor gamma = random(1, w, 3);
        float[] before = stream.data().clone();
        CpuTensor out = new CpuTensor(new float[rows * w], rows, w);
        fp32().addRmsNorm(stream, delta, gamma, 1e-5f, out);
        for (int r = 0; r < rows; r++) {
            double sq = 0;
            double[] s = new double[w];
            for (int i = 0; i < w; i++) {
                s[i] = (double) before[r * w + i] + delta.data()[r * w + i];
                sq += s[i] * s[i];
            }
            double inv = 1 / Math.sqrt(sq / w + 1e-5);
            for (int i = 0; i < w; i++) {
                close(s[i], stream.data()[r * w + i], 1e-6, "stream");
                close(s[i] * inv * gamma.data()[i], out.data()[r * w + i], 1e-5, "normed");
            }
        }
    }

    @Test
    void headRmsNormNormalisesEachHeadAlone() {
        CpuTensor x = random(3, 40, 4); // 8 leading columns, then 2 heads of 16
        float[] before = x.data().clone();
        CpuTensor gamma = random(1, 16, 5);
        fp32().headRmsNorm(x, 8, 2, 16, gamma, 1e-6f);
        for (int r = 0; r < 3; r++) {
            for (int i = 0; i < 8; i++) {
                assertEquals(before[r * 40 + i], x.data()[r * 40 + i], "columns before the heads are untouched");
            }
            for (int h = 0; h < 2; h++) {
                int o = r * 40 + 8 + h * 16;
                double sq = 0;
                for (int i = 0; i < 16; i++) {
                    sq += (double) before[o + i] * before[o + i];
                }
                for (int i = 0; i < 16; i++) {
                    close(before[o + i] / Math.sqrt(sq / 16 + 1e-6) * gamma.data()[i], x.data()[o + i], 1e-5, "head");
                }
            }
        }
    }

    @Test
    void ropeRotatesHalvesByPositionTimesFrequency() {
        int d = 8;
        CpuTensor x = random(3, 2 * d, 6);
        float[] before = x.data().clone();
        double[] inv = {1, 0.1, 0.01, 0.001};
        int[] pos = {0, 7, 1000};
        fp32().rope(x, 0, 2, d, pos, inv);
        for (int r = 0; r < 3; r++) {
            for (int h = 0; h < 2; h++) {
                int o = r * 2 * d + h * d;
                for (int i = 0; i < d / 2; i++) {
                    double a = pos[r] * inv[i];
                    double lo = before[o + i];
                    double hi = before[o + i + d / 2];
                    close(lo * Math.cos(a) - hi * Math.sin(a), x.data()[o + i], 1e-5, "first half");
                    close(hi * Math.cos(a) + lo * Math.sin(a), x.data()[o + i + d / 2], 1e-5, "second half");
                }
            }
        }
        // Position 0 is the identity.
        for (int i = 0; i < 2 * d; i++) {
            assertEquals(before[i], x.data()[i]);
        }
    }

    /** Few rows split by columns, many by rows: every output either way. */
    @Test
    void siluMulGatesTheUpProjection() {
        for (int[] shape : new int[][] {{4, 10}, {1, 2000}, {3, 1500}, {40, 30}}) {
            int rows = shape[0];
            int n = shape[1];
            CpuTensor gu = random(rows, 2 * n, 7 + n);
            CpuTensor out = new CpuTensor(new float[rows * n], rows, n);
            java.util.Arrays.fill(out.data(), Float.NaN);
            fp32().siluMul(gu, out);
            for (int r = 0; r < rows; r++) {
                for (int i = 0; i < n; i++) {
                    double g = gu.data()[r * 2 * n + i];
                    double u = gu.data()[r * 2 * n + n + i];
                    close(g / (1 + Math.exp(-g)) * u, out.data()[r * n + i], 1e-6, "silu·up " + rows + "x" + n);
                }
            }
        }
        CpuTensor gu = random(4, 2 * 10, 7);
        assertThrows(IllegalArgumentException.class, () -> fp32().siluMul(gu, new CpuTensor(new float[44], 4, 11)));
    }

    @Test
    void tokenLogProbsAreTheLogSoftmaxOfExplicitLogits() {
        int hidden = 24;
        int vocab = 1000; // more than one group of logit rows and an uneven vocabulary split
        CpuTensor h = random(40, hidden, 8);
        CpuTensor table = random(vocab, hidden, 9);
        int[] rows = new int[37];
        int[] targets = new int[37];
        Random r = new Random(10);
        for (int j = 0; j < rows.length; j++) {
            rows[j] = r.nextInt(40);
            targets[j] = r.nextInt(vocab);
        }
        float[] got = fp32().tokenLogProbs(h, rows, table, targets);
        for (int j = 0; j < rows.length; j++) {
            double[] logits = new double[vocab];
            double max = Double.NEGATIVE_INFINITY;
            for (int v = 0; v < vocab; v++) {
                for (int i = 0; i < hidden; i++) {
                    logits[v] += (double) h.data()[rows[j] * hidden + i] * table.data()[v * hidden + i];
                }
                max = Math.max(max, logits[v]);
            }
            double sum = 0;
            for (double l : logits) {
                sum += Math.exp(l - max);
            }
            close(logits[targets[j]] - max - Math.log(sum), got[j], 2e-5, "logprob " + j);
        }
        assertThrows(
                IllegalArgumentException.class, () -> fp32().tokenLogProbs(h, new int[] {0}, table, new int[] {vocab}));
    }

    @Test
    void gatherCopiesOrAccumulatesRowsAndChecksIds() {
        CpuTensor table = random(6, 4, 11);
        CpuTensor out = new CpuTensor(new float[12], 3, 4);
        CpuTensorOps ops = fp32();
        ops.gatherRows(table, new int[] {5, 0, 5}, out, false);
        ops.gatherRows(table, new int[] {1, 1, 2}, out, true);
        for (int i = 0; i < 4; i++) {
            assertEquals(table.data()[5 * 4 + i] + table.data()[4 + i], out.data()[i]);
            assertEquals(table.data()[i] + table.data()[4 + i], out.data()[4 + i]);
        }
        IllegalArgumentException e = assertThrows(
                IllegalArgumentException.class, () -> ops.gatherRows(table, new int[] {0, 6, 1}, out, false));
        assertTrue(e.getMessage().contains("id 6 at row 1"), e.getMessage());
    }

    @Test
    void aSimulatedDeviceStoresItsDtypeAndFp16OverflowIsNamed() {
        CpuTensorOps fp16 = new CpuTensorOps(ComputeDtype.FP16, new CpuMathAttention(), threads);
        CpuTensor x = new CpuTensor(new float[] {1.0001f, 3.14159f, 70000f}, 1, 3);
        PrecisionOverflowException e = assertThrows(PrecisionOverflowException.class, () -> fp16.store(x, "MLP down"));
        assertTrue(e.getMessage().contains("MLP down"), e.getMessage());
        CpuTensor y = new CpuTensor(new float[] {1.0001f, 3.14159f}, 1, 2);
        fp16.store(y, "ok");
        assertEquals(HalfFloats.roundToFp16(3.14159f), y.data()[1]);
        float[] w = {1.0001f, 2.5f};
        assertSame(
                w,
                ((CpuTensor) new CpuWeights(ComputeDtype.FP32).upload("w", w, 1, 2)).data(),
                "fp32 weights are wrapped, not copied");
        assertEquals(
                HalfFloats.roundToBf16(1.0001f),
                ((CpuTensor) new CpuWeights(ComputeDtype.BF16).upload("w", w, 1, 2)).data()[0]);
    }

    /**
     * A weight the checkpoint stores in bf16 stays bf16 on the CPU (fp32 and simulated bf16, not a
     * simulated fp16 device), and every op that reads a weight gives what it gives on the fp32
     * copy of the same values, bit for bit: linear (one row and many, packed or not), the row
     * gather, the logits and the token log-probs.
     */
    @Test
    void bf16WeightsAreKeptAndReadAsTheirExactFp32Values() {
        Random r = new Random(8);
        int vocab = 301;
        int h = 64;
        short[] bits = gaussianBf16(r, vocab * h);
        WeightData.Bf16 data = new WeightData.Bf16(bits);
        CpuTensor b = (CpuTensor) new CpuWeights(ComputeDtype.FP32).upload("t", data, vocab, h);
        assertSame(bits, b.bf16(), "bf16 weights are wrapped, not copied");
        assertThrows(IllegalStateException.class, b::data);
        // Linear weights are packed into the GEMM's panels, bf16 kept bf16; fp32 ones packed as fp32.
        CpuTensor bl = (CpuTensor) new CpuWeights(ComputeDtype.BF16).linear("w", data, vocab, h);
        assertTrue(bl.packed() != null && bl.packed().isBf16() && !bl.storedTransposed());
        CpuTensor fl = (CpuTensor) new CpuWeights(ComputeDtype.FP32).linear("w", data.toFloats(), vocab, h);
        assertTrue(fl.packed() != null && !fl.packed().isBf16());
        assertThrows(IllegalStateException.class, bl::data);
        CpuTensor f16 = (CpuTensor) new CpuWeights(ComputeDtype.FP16).upload("t", data, vocab, h);
        assertEquals(null, f16.bf16(), "a simulated fp16 device rounds its own copy");
        CpuTensor f = new CpuTensor(data.toFloats(), vocab, h);
        CpuTensorOps ops = fp32();
        // Output tables are packed transposed, (hidden, vocab), in bf16 or fp32; read the same.
        CpuTensor bt = (CpuTensor) new CpuWeights(ComputeDtype.FP32).outputTable("head", data, vocab, h);
        CpuTensor ft = (CpuTensor)
                new CpuWeights(ComputeDtype.FP32).outputTable("head", new WeightData.F32(data.toFloats()), vocab, h);
        assertTrue(bt.storedTransposed()
                && bt.packed().isBf16()
                && ft.storedTransposed()
                && !ft.packed().isBf16());
        assertEquals(vocab, bt.rows());
        assertEquals(h, bt.cols());
        for (int m : new int[] {1, 3, 9}) {
            CpuTensor x = random(m, vocab, 20 + m);
            CpuTensor bias = random(1, h, 3);
            CpuTensor yb = new CpuTensor(new float[m * h], m, h);
            CpuTensor yf = new CpuTensor(new float[m * h], m, h);
            ops.linear(x, f, bias, yf, Epilogue.NONE);
            for (CpuTensor w : new CpuTensor[] {b, bl, fl}) {
                ops.linear(x, w, bias, yb, Epilogue.NONE);
                assertEquals(
                        java.util.Arrays.toString(yf.data()),
                        java.util.Arrays.toString(yb.data()),
                        "linear M=" + m + " " + w);
            }
            assertThrows( // shapes fit, but an output table is not a Linear weight
                    IllegalArgumentException.class, () -> ops.linear(x, bt, null, yb, Epilogue.NONE));
            CpuTensor hidden = random(m, h, 40 + m);
            int[] rows = new int[m];
            int[] targets = new int[m];
            for (int j = 0; j < m; j++) {
                rows[j] = m - 1 - j;
                targets[j] = r.nextInt(vocab);
            }
            for (CpuTensor table : new CpuTensor[] {b, bt, ft}) {
                assertEquals(
                        java.util.Arrays.toString(ops.logits(hidden, rows, f)),
                        java.util.Arrays.toString(ops.logits(hidden, rows, table)),
                        "logits M=" + m + " " + table);
                assertEquals(
                        java.util.Arrays.toString(ops.tokenLogProbs(hidden, rows, f, targets)),
                        java.util.Arrays.toString(ops.tokenLogProbs(hidden, rows, table, targets)),
                        "log-probs M=" + m + " " + table);
            }
        }
        int[] ids = {7, 300, 0, 7};
        for (boolean accumulate : new boolean[] {false, true}) {
            CpuTensor gf = random(ids.length, h, 5);
            ops.gatherRows(f, ids, gf, accumulate);
            for (CpuTensor table : new CpuTensor[] {b, bt, ft}) {
                CpuTensor gb = random(ids.length, h, 5);
                ops.gatherRows(table, ids, gb, accumulate);
                assertEquals(
                        java.util.Arrays.toString(gf.data()), java.util.Arrays.toString(gb.data()), "gather " + table);
            }
        }
        assertThrows(
                IllegalArgumentException.class, () -> ops.gatherRows(b, new int[] {vocab}, random(1, h, 1), false));
    }

    /**
     * A Linear weight the host already holds packed ({@link WeightData.Panels}) is used in place
     * where the dtype reads its values unchanged, and unpacked, rounded and packed anew on a
     * simulated fp16 device; unpacking gives back the row-major values.
     */
    @Test
    void packedHostWeightsAreUsedInPlaceWhereTheirValuesServe() {
        Random r = new Random(9);
        int in = 70;
        int out = 130;
        short[] bits = gaussianBf16(r, in * out);
        float[] values = new WeightData.Bf16(bits).toFloats();
        PanelMatrix bf16 = CpuGemm.packBf16(bits, in, out);
        PanelMatrix fp32 = CpuGemm.pack(values, in, out);
        assertArrayEquals(values, new WeightData.Panels(bf16).toFloats());
        assertArrayEquals(values, new WeightData.Panels(fp32).toFloats());
        for (ComputeDtype dtype : new ComputeDtype[] {ComputeDtype.FP32, ComputeDtype.BF16}) {
            CpuTensor t = (CpuTensor) new CpuWeights(dtype).linear("w", new WeightData.Panels(bf16), in, out);
            assertSame(bf16, t.packed(), dtype + " reads bf16 panels in place");
        }
        assertSame(
                fp32,
                ((CpuTensor) new CpuWeights(ComputeDtype.FP32).linear("w", new WeightData.Panels(fp32), in, out))
                        .packed());
        CpuTensor f16 = (CpuTensor) new CpuWeights(ComputeDtype.FP16).linear("w", new WeightData.Panels(bf16), in, out);
        assertTrue(f16.packed() != bf16 && !f16.packed().isBf16(), "fp16 rounds its own copy");
        assertEquals(HalfFloats.roundToFp16(values[5 * out + 7]), f16.get(5, 7));
        assertThrows(
                IllegalArgumentException.class,
                () -> new CpuWeights(ComputeDtype.FP32).linear("w", new WeightData.Panels(bf16), out, in),
                "a packed weight of another shape is refused");
    }
}

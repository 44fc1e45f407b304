package dev.attune.kernels.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.attune.kernels.attention.AttentionProblem;
import dev.attune.kernels.attention.CpuMathAttention;
import dev.attune.kernels.cpu.CpuThreads;
import dev.attune.kernels.device.ComputeCapability;
import dev.attune.kernels.ops.CpuTensorOps;
import dev.attune.kernels.ops.CpuWeights;
import dev.attune.kernels.ops.Epilogue;
import dev.attune.kernels.ops.Tensor;
import dev.attune.kernels.ops.TensorOps;
import dev.attune.kernels.ops.WeightUploader;
import dev.attune.kernels.precision.PrecisionOverflowException;
import dev.attune.kernels.select.AttentionChoice;
import dev.attune.kernels.select.AttentionPath;
import dev.attune.kernels.select.ComputeDtype;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The op contract on a real GPU against the CPU implementation in the same dtype: one encoder
 * layer's worth of ops (gathers with accumulate, LayerNorm, fused-QKV GEMM, attention on each
 * GPU path the device runs, projections with and without GELU, stores), written once against
 * {@link TensorOps} and run on {@link CudaTensorOps} and {@link CpuTensorOps}; the fp16 range
 * check naming the first store that overflowed; and {@link CudaWeights} releasing what it uploaded.
 */
@Tag("gpu")
class CudaTensorOpsTest {

    private static final int HIDDEN = 64;
    private static final int HEADS = 2;
    private static final int INTER = 128;
    private static final int[] CU = {0, 5, 6, 19};

    private static CudaBackend backend;
    private static CpuThreads threads;

    @BeforeAll
    static void open() {
        backend = CudaBackend.open(GpuFixture.firstGpu());
        threads = CpuThreads.single();
    }

    @AfterAll
    static void close() {
        if (backend != null) {
            backend.close();
        }
    }

    /** Host weights of one small encoder layer, uniform, fixed seed. */
    private record Host(
            float[] word,
            float[] pos,
            float[] gamma,
            float[] beta,
            float[] qkv,
            float[] qkvBias,
            float[] out,
            float[] ffnIn,
            float[] ffnInBias) {
        static Host random(float weightScale) {
            Random r = new Random(7);
            return new Host(
                    GpuFixture.random(r, 30 * HIDDEN, 1f, ComputeDtype.FP32),
                    GpuFixture.random(r, 20 * HIDDEN, 1f, ComputeDtype.FP32),
                    GpuFixture.random(r, HIDDEN, 1.5f, ComputeDtype.FP32),
                    GpuFixture.random(r, HIDDEN, 0.5f, ComputeDtype.FP32),
                    GpuFixture.random(r, HIDDEN * 3 * HIDDEN, weightScale, ComputeDtype.FP32),
                    GpuFixture.random(r, 3 * HIDDEN, 0.1f, ComputeDtype.FP32),
                    GpuFixture.random(r, HIDDEN * HIDDEN, weightScale, ComputeDtype.FP32),
                    GpuFixture.random(r, HIDDEN * INTER, weightScale, ComputeDtype.FP32),
                    GpuFixture.random(r, INTER, 0.1f, ComputeDtype.FP32));
        }
    }

    /** The layer, written once against the contract: returns the downloaded (tokens, hidden) and (tokens, inter). */
    private static float[][] layer(Host h, WeightUploader up, TensorOps ops) {
        int t = CU[CU.length - 1];
        int[] ids = new int[t];
        int[] positions = new int[t];
        for (int i = 0; i < t; i++) {
            ids[i] = (i * 7) % 30;
            positions[i] = i % 20;
        }
        Tensor word = up.upload("word", h.word(), 30, HIDDEN);
        Tensor pos = up.upload("pos", h.pos(), 20, HIDDEN);
        Tensor gamma = up.vector("gamma", h.gamma());
        Tensor beta = up.vector("beta", h.beta());
        Tensor qkvW = up.linear("qkv", h.qkv(), HIDDEN, 3 * HIDDEN);
        Tensor qkvB = up.vector("qkv.bias", h.qkvBias());
        Tensor outW = up.linear("out", h.out(), HIDDEN, HIDDEN);
        Tensor ffnW = up.linear("ffn", h.ffnIn(), HIDDEN, INTER);
        Tensor ffnB = up.vector("ffn.bias", h.ffnInBias());

        Tensor x = ops.allocate(t, HIDDEN);
        ops.gatherRows(word, ids, x, false);
        ops.gatherRows(pos, positions, x, true);
        ops.addLayerNorm(x, null, gamma, beta, 1e-12f);
        ops.store(x, "embeddings");
        Tensor qkv = ops.allocate(t, 3 * HIDDEN);
        ops.linear(x, qkvW, qkvB, qkv, Epilogue.NONE);
        ops.store(qkv, "QKV projection");
        Tensor ctx = ops.allocate(t, HIDDEN);
        ops.attention(AttentionProblem.fusedQkv(CU, HEADS, HIDDEN / HEADS, false), qkv, qkv, qkv, ctx);
        Tensor proj = ops.allocate(t, HIDDEN);
        ops.linear(ctx, outW, null, proj, Epilogue.NONE);
        ops.store(proj, "attention projection");
        ops.addLayerNorm(proj, x, gamma, beta, 1e-12f);
        ops.store(proj, "attention LayerNorm");
        Tensor ffn = ops.allocate(t, INTER);
        ops.linear(proj, ffnW, ffnB, ffn, Epilogue.GELU_ERF);
        ops.store(ffn, "feed-forward activation");
        return new float[][] {ops.download(proj), ops.download(ffn)};
    }

    private static List<ComputeDtype> dtypes() {
        List<ComputeDtype> d = new ArrayList<>(List.of(ComputeDtype.FP32, ComputeDtype.FP16));
        if (backend.device().capability().atLeast(ComputeCapability.SM80)) {
            d.add(ComputeDtype.BF16);
        }
        return d;
    }

    @Test
    void aLayerOfOpsMatchesTheCpuInTheSameDtypeOnEveryUniversalPath() {
        Host h = Host.random(0.2f);
        for (ComputeDtype dt : dtypes()) {
            TensorOps cpu = new CpuTensorOps(dt, new CpuMathAttention(), threads);
            float[][] want = layer(h, new CpuWeights(dt), cpu);
            for (AttentionPath p : List.of(AttentionPath.MEM_EFFICIENT, AttentionPath.MATH)) {
                float[][] got;
                long before = backend.residentBytes();
                try (CudaWeights w = new CudaWeights(backend, dt);
                        CudaSession s = backend.session()) {
                    got = layer(h, w, new CudaTensorOps(s, new AttentionChoice(p, dt, 4, "test")));
                    assertTrue(w.residentBytes() > 0);
                }
                assertEquals(before, backend.residentBytes(), "closing the weights releases them");
                double tol = 16 * GpuFixture.unitRoundoff(dt) + 1e-5;
                for (int o = 0; o < 2; o++) {
                    for (int i = 0; i < want[o].length; i++) {
                        double err = Math.abs(got[o][i] - want[o][i]);
                        assertTrue(
                                err <= tol * (1 + Math.abs(want[o][i])),
                                dt + " " + p + " output " + o + " [" + i + "]: got " + got[o][i] + ", want "
                                        + want[o][i]);
                    }
                }
            }
        }
    }

    @Test
    void fp16OverflowIsRaisedAtDownloadNamingTheFirstStoreThatLeftTheRange() {
        Host big = Host.random(30000f); // q/k/v (64 products of ~1 · 30000) leave fp16's 65504; the embeddings do not
        try (CudaWeights w = new CudaWeights(backend, ComputeDtype.FP16);
                CudaSession s = backend.session()) {
            CudaTensorOps ops = new CudaTensorOps(
                    s, new AttentionChoice(AttentionPath.MEM_EFFICIENT, ComputeDtype.FP16, 0, "test"));
            PrecisionOverflowException e = assertThrows(PrecisionOverflowException.class, () -> layer(big, w, ops));
            assertTrue(e.getMessage().startsWith("QKV projection holds "), e.getMessage());
            assertTrue(e.getMessage().contains("fp16"), e.getMessage());
        }
        // bf16 and fp32 have fp32's range: not checked, no exception
        try (CudaWeights w = new CudaWeights(backend, ComputeDtype.FP32);
                CudaSession s = backend.session()) {
            layer(
                    big,
                    w,
                    new CudaTensorOps(
                            s, new AttentionChoice(AttentionPath.MEM_EFFICIENT, ComputeDtype.FP32, 0, "test")));
        }
    }
}

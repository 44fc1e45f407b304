package dev.attune.kernels.attention;

import dev.attune.kernels.cpu.CpuThreads;
import dev.attune.kernels.precision.StoredPrecision;
import dev.attune.kernels.select.AttentionPath;
import dev.attune.kernels.select.ComputeDtype;

/**
 * A GPU attention path run on the CPU for a simulated device: Q, K and V are read as the device
 * stores them (rounded to the compute dtype), the algorithm of the path runs with fp32
 * accumulation (the tiled online softmax for the flash and mem-efficient paths, explicit scores
 * for math), and the output is stored in the compute dtype.
 */
public final class SimulatedGpuAttention implements AttentionKernel {

    private final AttentionPath path;
    private final ComputeDtype dtype;
    private final AttentionKernel algorithm;

    public SimulatedGpuAttention(AttentionPath path, ComputeDtype dtype) {
        if (!path.isGpu()) {
            throw new IllegalArgumentException(path + " is not a GPU path");
        }
        this.path = path;
        this.dtype = dtype;
        this.algorithm = path == AttentionPath.MATH ? new CpuMathAttention() : new CpuFlashAttention();
    }

    @Override
    public String path() {
        return path.id();
    }

    public ComputeDtype dtype() {
        return dtype;
    }

    @Override
    public void forward(AttentionProblem p, float[] q, float[] k, float[] v, float[] out, CpuThreads threads) {
        AttentionKernel.checkBuffers(p, q, k, v, out);
        int n = p.totalTokens() * p.rowStride();
        // One rounded copy serves all three when Q, K and V share a buffer (the fused layout).
        float[] qr = rounded(q, n, threads);
        float[] kr = k == q ? qr : rounded(k, n, threads);
        float[] vr = v == q ? qr : v == k ? kr : rounded(v, n, threads);
        algorithm.forward(p, qr, kr, vr, out, threads);
        StoredPrecision.round(out, p.totalTokens() * p.outWidth(), dtype, "attention output", threads);
    }

    private float[] rounded(float[] x, int n, CpuThreads threads) {
        if (dtype == ComputeDtype.FP32) {
            return x;
        }
        float[] c = java.util.Arrays.copyOf(x, n);
        StoredPrecision.round(c, n, dtype, "attention input", threads);
        return c;
    }

    @Override
    public long workspaceBytes(AttentionProblem p, int threads) {
        long copies = dtype == ComputeDtype.FP32 ? 0 : (long) p.totalTokens() * p.rowStride() * Float.BYTES;
        return copies + algorithm.workspaceBytes(p, threads);
    }
}

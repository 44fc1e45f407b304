package dev.attune.kernels.ops;

import dev.attune.kernels.precision.StoredPrecision;
import dev.attune.kernels.select.ComputeDtype;

/**
 * Weights resident in the JVM heap for {@link CpuTensorOps}: in fp32 the model's own arrays are
 * wrapped without a copy; in fp16 or bf16 (a simulated device) each weight is a rounded copy made
 * once, so the device's stored precision applies to every product. A weight the checkpoint stores
 * in bf16 ({@link WeightData.Bf16}) stays bf16, without a copy, in fp32 and in bf16: its values
 * are those numbers exactly, and the GEMM widens them in registers, reading half the bytes.
 *
 * <p>Threading: stateless apart from its dtype; safe for concurrent use.
 */
public final class CpuWeights implements WeightUploader {

    private final ComputeDtype dtype;

    public CpuWeights(ComputeDtype dtype) {
        this.dtype = dtype;
    }

    @Override
    public ComputeDtype dtype() {
        return dtype;
    }

    @Override
    public Tensor upload(String name, float[] data, int rows, int cols) {
        if (data.length != (long) rows * cols) {
            throw new IllegalArgumentException(
                    name + ": " + data.length + " values for a (" + rows + ", " + cols + ") weight");
        }
        return new CpuTensor(StoredPrecision.roundedCopy(data, dtype), rows, cols);
    }

    @Override
    public Tensor upload(String name, WeightData data, int rows, int cols) {
        if (data instanceof WeightData.Bf16 b && dtype != ComputeDtype.FP16) {
            if (b.length() != (long) rows * cols) {
                throw new IllegalArgumentException(
                        name + ": " + b.length() + " values for a (" + rows + ", " + cols + ") weight");
            }
            return CpuTensor.bf16(b.bits(), rows, cols);
        }
        return upload(name, data.toFloats(), rows, cols);
    }

    /**
     * Stored transposed, (hidden, vocab): a decode step's logits are then a few-row product that
     * streams the table once, in place, instead of packing an (N, K) matrix per call. A tied
     * embedding table is gathered from this layout too (one strided read per value).
     */
    @Override
    public Tensor outputTable(String name, WeightData table, int vocab, int hidden) {
        if (table.length() != (long) vocab * hidden) {
            throw new IllegalArgumentException(
                    name + ": " + table.length() + " values for a (" + vocab + ", " + hidden + ") table");
        }
        if (table instanceof WeightData.Bf16 b && dtype != ComputeDtype.FP16) {
            short[] src = b.bits();
            short[] t = new short[src.length];
            for (int v = 0; v < vocab; v++) {
                for (int i = 0; i < hidden; i++) {
                    t[i * vocab + v] = src[v * hidden + i];
                }
            }
            return CpuTensor.transposed(null, t, vocab, hidden);
        }
        float[] src = StoredPrecision.roundedCopy(table.toFloats(), dtype);
        float[] t = new float[src.length];
        for (int v = 0; v < vocab; v++) {
            for (int i = 0; i < hidden; i++) {
                t[i * vocab + v] = src[v * hidden + i];
            }
        }
        return CpuTensor.transposed(t, null, vocab, hidden);
    }

    @Override
    public Tensor linear(String name, WeightData inMajor, int in, int out) {
        return upload(name, inMajor, in, out);
    }
}

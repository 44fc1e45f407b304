package dev.attune.kernels.ops;

import dev.attune.kernels.cpu.CpuGemm;
import dev.attune.kernels.cpu.PanelMatrix;
import dev.attune.kernels.precision.StoredPrecision;
import dev.attune.kernels.select.ComputeDtype;

/**
 * Weights resident in the JVM heap for {@link CpuTensorOps}. Linear weights and output tables are
 * packed once into the GEMM's panels ({@link PanelMatrix}); other tensors (embedding tables,
 * norms, biases) are wrapped without a copy in fp32. In fp16 or bf16 (a simulated device) values
 * are rounded once, so the device's stored precision applies to every product. A weight the
 * checkpoint stores in bf16 ({@link WeightData.Bf16}) stays bf16 in fp32 and in bf16 (a table
 * wrapped without a copy, a Linear weight packed as bf16): its values are those numbers exactly,
 * and the GEMM widens them in registers, reading half the bytes.
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
        size(name, data.length, rows, cols);
        return new CpuTensor(StoredPrecision.roundedCopy(data, dtype), rows, cols);
    }

    @Override
    public Tensor upload(String name, WeightData data, int rows, int cols) {
        if (data instanceof WeightData.Bf16 b && dtype != ComputeDtype.FP16) {
            size(name, b.length(), rows, cols);
            return CpuTensor.bf16(b.bits(), rows, cols);
        }
        return upload(name, data.toFloats(), rows, cols);
    }

    /**
     * Packed into the GEMM's panels ({@link PanelMatrix}) once, here, so that no product packs
     * weights: fp32 (rounded to a simulated device's dtype), or bf16 as stored.
     */
    @Override
    public Tensor linear(String name, float[] inMajor, int in, int out) {
        size(name, inMajor.length, in, out);
        return CpuTensor.packed(CpuGemm.pack(StoredPrecision.roundedCopy(inMajor, dtype), in, out));
    }

    /**
     * Weights already packed ({@link WeightData.Panels}) are used in place when this dtype reads
     * their values unchanged (bf16 panels except on a simulated fp16 device, fp32 panels in fp32);
     * otherwise they are unpacked, rounded and packed anew.
     */
    @Override
    public Tensor linear(String name, WeightData inMajor, int in, int out) {
        if (inMajor instanceof WeightData.Panels p && inPlace(p.matrix())) {
            size(name, p.length(), in, out);
            if (p.matrix().rows() != in) {
                throw new IllegalArgumentException(
                        name + ": packed as " + p.matrix() + ", not (" + in + ", " + out + ")");
            }
            return CpuTensor.packed(p.matrix());
        }
        if (inMajor instanceof WeightData.Bf16 b && dtype != ComputeDtype.FP16) {
            size(name, b.length(), in, out);
            return CpuTensor.packed(CpuGemm.packBf16(b.bits(), in, out));
        }
        return linear(name, inMajor.toFloats(), in, out);
    }

    /**
     * Packed as its transpose, (hidden, vocab): a decode step's logits are then a single-row
     * product that streams the table once. A tied embedding table is gathered from this layout
     * too (one strided read per value).
     */
    @Override
    public Tensor outputTable(String name, WeightData table, int vocab, int hidden) {
        size(name, table.length(), vocab, hidden);
        if (table instanceof WeightData.Bf16 b && dtype != ComputeDtype.FP16) {
            return CpuTensor.packedTransposed(CpuGemm.packTransposedBf16(b.bits(), hidden, vocab));
        }
        float[] t = StoredPrecision.roundedCopy(table.toFloats(), dtype);
        return CpuTensor.packedTransposed(CpuGemm.packTransposed(t, hidden, vocab));
    }

    private boolean inPlace(PanelMatrix m) {
        boolean values = m.isBf16() ? dtype != ComputeDtype.FP16 : dtype == ComputeDtype.FP32;
        return values && CpuGemm.reads(m);
    }

    private static void size(String name, long length, int rows, int cols) {
        if (length != (long) rows * cols) {
            throw new IllegalArgumentException(
                    name + ": " + length + " values for a (" + rows + ", " + cols + ") weight");
        }
    }
}

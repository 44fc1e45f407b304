package dev.attune.kernels.select;

import dev.attune.kernels.device.ComputeCapability;
import dev.attune.kernels.device.DeviceInfo;
import java.util.Optional;

/**
 * The compute dtype of a device for a model: accumulation is fp32 everywhere; the stored
 * operands follow the device.
 *
 * <ul>
 *   <li>CPU: fp32.</li>
 *   <li>sm80 and newer: bf16 for a bf16 model, fp16 for fp16 and fp32 models (tensor cores).</li>
 *   <li>sm70 and sm75: fp16; a bf16 model runs in fp16 with an overflow check (bf16's range is
 *   fp32's, fp16's ends at 65504), never silently in the naive path.</li>
 *   <li>older (sm60) and SIMT-only GPUs: fp32.</li>
 * </ul>
 * A user's dtype applies to GPUs; bf16 on a GPU older than sm80 is an error naming the device.
 */
public final class PrecisionPolicy {

    private PrecisionPolicy() {}

    /** The dtype and, where the model's own dtype was changed, a note saying so (else empty). */
    public record Decision(ComputeDtype dtype, String note) {}

    public static Decision decide(DeviceInfo device, ComputeDtype model, Optional<ComputeDtype> requested) {
        if (!device.isGpu()) {
            return new Decision(
                    ComputeDtype.FP32,
                    model == ComputeDtype.FP32 ? "" : model + " weights computed in fp32 on the CPU");
        }
        ComputeCapability cc = device.capability();
        if (requested.isPresent()) {
            ComputeDtype r = requested.get();
            if (r == ComputeDtype.BF16 && !cc.atLeast(ComputeCapability.SM80)) {
                throw new UnsupportedPathException("device " + device.label() + " (" + cc.smName()
                        + ") cannot compute in bf16: bf16 needs sm_80 or newer; use fp16 or fp32");
            }
            return new Decision(r, "dtype " + r + " as configured");
        }
        if (cc.atLeast(ComputeCapability.SM80)) {
            return model == ComputeDtype.BF16
                    ? new Decision(ComputeDtype.BF16, "")
                    : new Decision(
                            ComputeDtype.FP16,
                            model == ComputeDtype.FP32 ? "fp32 weights computed in fp16 (fp32 accumulation)" : "");
        }
        if (cc.atLeast(ComputeCapability.SM70)) {
            return switch (model) {
                case BF16 ->
                    new Decision(ComputeDtype.FP16, "bf16 needs sm_80+: computing in fp16 with an overflow check");
                case FP32 -> new Decision(ComputeDtype.FP16, "fp32 weights computed in fp16 (fp32 accumulation)");
                case FP16 -> new Decision(ComputeDtype.FP16, "");
            };
        }
        return new Decision(
                ComputeDtype.FP32,
                model == ComputeDtype.FP32 ? "" : cc.smName() + " has no tensor cores: computing in fp32");
    }
}

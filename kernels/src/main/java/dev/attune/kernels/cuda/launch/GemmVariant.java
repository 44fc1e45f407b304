package dev.attune.kernels.cuda.launch;

import dev.attune.kernels.device.ComputeCapability;
import dev.attune.kernels.select.ComputeDtype;

/** The GEMM kernels Attune ships, from fastest to most widely runnable. */
public enum GemmVariant {
    /** Tensor cores, mma m16n8k16, cp.async; fp16 and bf16; sm80 and newer. */
    SM80("gemm_sm80"),
    /** Tensor cores, mma m16n8k8 and ldmatrix; fp16; sm75 and newer. */
    SM75("gemm_sm75"),
    /** CUDA cores, fp32 accumulation; every dtype; every GPU the shipped PTX runs on (sm60 and newer). */
    SIMT("gemm_simt");

    private final String module;

    GemmVariant(String module) {
        this.module = module;
    }

    public String module() {
        return module;
    }

    public boolean supports(ComputeDtype dtype) {
        return switch (this) {
            case SM80 -> dtype != ComputeDtype.FP32;
            case SM75 -> dtype == ComputeDtype.FP16;
            case SIMT -> true;
        };
    }

    /** The oldest GPU whose instructions the variant uses. */
    public ComputeCapability minCapability() {
        return switch (this) {
            case SM80 -> ComputeCapability.SM80;
            case SM75 -> ComputeCapability.SM75;
            case SIMT -> ComputeCapability.SM60;
        };
    }

    /**
     * The fastest variant a device of this capability runs for the dtype.
     *
     * @throws IllegalArgumentException for a capability below 6.0 (or the CPU's NONE): the shipped
     *                                  PTX targets sm_60 and newer
     */
    public static GemmVariant best(ComputeCapability cc, ComputeDtype dtype) {
        if (!cc.atLeast(SIMT.minCapability())) {
            throw new IllegalArgumentException(
                    "no GEMM kernel runs on compute capability " + cc + ": the shipped PTX targets sm_60 and newer");
        }
        for (GemmVariant v : values()) {
            if (cc.atLeast(v.minCapability()) && v.supports(dtype)) {
                return v;
            }
        }
        return SIMT;
    }
}

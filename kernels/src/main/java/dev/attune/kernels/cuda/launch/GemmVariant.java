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

    /**
     * The fastest variant a device of this capability runs for the dtype.
     *
     * @throws IllegalArgumentException for a capability below 6.0 (or the CPU's NONE): the shipped
     *                                  PTX targets sm_60 and newer
     */
    public static GemmVariant best(ComputeCapability cc, ComputeDtype dtype) {
        if (!cc.atLeast(ComputeCapability.SM60)) {
            throw new IllegalArgumentException("no GEMM kernel runs on compute capability " + cc
                    + ": the shipped PTX targets sm_60 and newer");
        }
        if (cc.atLeast(ComputeCapability.SM80) && SM80.supports(dtype)) {
            return SM80;
        }
        if (cc.atLeast(ComputeCapability.SM75) && SM75.supports(dtype)) {
            return SM75;
        }
        return SIMT;
    }
}

package dev.attune.kernels.select;

import dev.attune.kernels.cuda.launch.AttentionLaunch;
import dev.attune.kernels.device.DeviceInfo;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * Picks, for one device and one kind of batch, the fastest attention path that device really
 * runs, the compute dtype, the query chunking and a one-line reason.
 *
 * <p>A pure function of its arguments: it is evaluated per device, never with "any GPU on the
 * node", and a simulated device gets exactly the decision of the real one.
 *
 * <p>Preference on a GPU: {@code flash-sm80}, then {@code flash-sm75}, then {@code math} for
 * short rows (at most {@link #MATH_SHORT_ROWS} tokens, where one GEMM-shaped pass beats the
 * tiled loop) else {@code mem-efficient}, then the other of those two, then the CPU paths. A GPU
 * path is runnable only where the shipped PTX of every module it launches loads
 * ({@link KernelSupport#whyNot}: the GPU at least the module's {@code .target}, the driver at
 * least the CUDA version of its PTX ISA), so an old driver drops an A100 from flash-sm80 to the
 * first path whose PTX it accepts, with the driver, module and needed version in the reason. On
 * the CPU: {@code cpu-flash}, then {@code cpu-math}.
 *
 * <p>What each path takes (GPU generation, dtypes, head_dim, masks, grouped K/V heads, sliding
 * window, shared prefixes) is declared once in its {@link PathFacts}; rules from FlashAttention,
 * PyTorch SDPA and xformers: flash needs head_dim a multiple of 8 and at most 256 and fp16 or
 * bf16, bf16 only on sm80+. A path whose tile for the head_dim does not fit the GPU's shared
 * memory per block is passed over; a padding mask travels as row lengths. A forced path the device cannot run is an {@link UnsupportedPathException} naming
 * device, path and reason; excluded paths are skipped.
 */
public final class AttentionSelector {

    /** Rows up to this length use the math path on GPUs without a flash kernel. */
    public static final int MATH_SHORT_ROWS = 64;
    /** Share of free device memory the math path's score matrix may take. */
    static final double SCORE_SHARE = 0.25;

    private AttentionSelector() {}

    public static AttentionChoice select(DeviceInfo device, AttentionRequest req, UserOverrides overrides) {
        return select(device, req, overrides, KernelSupport.SHIPPED, 0.9);
    }

    public static AttentionChoice select(
            DeviceInfo device,
            AttentionRequest req,
            UserOverrides overrides,
            KernelSupport support,
            double memoryFraction) {
        PrecisionPolicy.Decision precision = PrecisionPolicy.decide(device, req.modelDtype(), overrides.dtype());
        ComputeDtype dtype = precision.dtype();

        if (overrides.forced().isPresent()) {
            AttentionPath p = overrides.forced().get();
            Optional<String> no = whyNot(p, device, dtype, req, support);
            if (no.isPresent()) {
                throw new UnsupportedPathException(
                        "device " + device.label() + " cannot run the forced attention path " + p + ": " + no.get());
            }
            return choice(p, device, dtype, req, memoryFraction, join(precision.note(), "forced by configuration"));
        }

        List<String> skipped = new ArrayList<>();
        for (AttentionPath p : preference(device, req)) {
            if (overrides.excluded().contains(p)) {
                skipped.add(p + " excluded by configuration");
                continue;
            }
            Optional<String> no = whyNot(p, device, dtype, req, support);
            if (no.isPresent()) {
                skipped.add(p + ": " + no.get());
                continue;
            }
            // A GPU that falls to a CPU path computes in fp32 on the host.
            ComputeDtype d = p.isGpu() ? dtype : ComputeDtype.FP32;
            String why = p.isGpu() ? precision.note() : "";
            return choice(p, device, d, req, memoryFraction, join(why, because(p, device, d, req, skipped)));
        }
        throw new UnsupportedPathException(
                "device " + device.label() + " has no attention path left to run: " + String.join("; ", skipped));
    }

    /** Paths in the order they are tried on this device. */
    static List<AttentionPath> preference(DeviceInfo device, AttentionRequest req) {
        if (!device.isGpu()) {
            return List.of(AttentionPath.CPU_FLASH, AttentionPath.CPU_MATH);
        }
        boolean shortRows = req.maxSeqLen() <= MATH_SHORT_ROWS;
        return shortRows
                ? List.of(
                        AttentionPath.FLASH_SM80,
                        AttentionPath.FLASH_SM75,
                        AttentionPath.MATH,
                        AttentionPath.MEM_EFFICIENT,
                        AttentionPath.CPU_FLASH,
                        AttentionPath.CPU_MATH)
                : List.of(
                        AttentionPath.FLASH_SM80,
                        AttentionPath.FLASH_SM75,
                        AttentionPath.MEM_EFFICIENT,
                        AttentionPath.MATH,
                        AttentionPath.CPU_FLASH,
                        AttentionPath.CPU_MATH);
    }

    /**
     * Why {@code p} cannot run on {@code device} for this request, or empty when it can: the path's
     * own facts ({@link PathFacts}: GPU generation, then whether the path's shipped PTX loads on
     * this GPU and driver, then dtype, head_dim, mask and decoder features), then whether its tile
     * fits the GPU's shared memory. A CPU path computes in fp32 whatever the device's dtype.
     */
    public static Optional<String> whyNot(
            AttentionPath p, DeviceInfo device, ComputeDtype dtype, AttentionRequest req, KernelSupport support) {
        PathFacts facts = p.facts();
        Optional<String> hw = facts.whyNotHardware(device);
        if (hw.isPresent()) {
            return hw;
        }
        if (p.isGpu()) {
            Optional<String> ptx = support.whyNot(p, device);
            if (ptx.isPresent()) {
                return ptx;
            }
        }
        Optional<String> work = facts.whyNotWork(p.isGpu() ? dtype : ComputeDtype.FP32, req);
        if (work.isPresent() || !p.isGpu()) {
            return work;
        }
        return sharedMemory(p, device, dtype, req);
    }

    /** Whether one block of the path's kernel fits the shared memory a block may use on this GPU. */
    private static Optional<String> sharedMemory(
            AttentionPath p, DeviceInfo device, ComputeDtype dtype, AttentionRequest req) {
        AttentionLaunch launch = AttentionLaunch.of(p).orElse(null);
        if (launch == null || device.sharedMemoryPerBlock() <= 0 || !launch.supports(dtype, req.headDim())) {
            return Optional.empty();
        }
        int needs = launch.shape(dtype, req.headDim(), 1, 1, 1).sharedBytes();
        if (needs > device.sharedMemoryPerBlock()) {
            return Optional.of("its tile for head_dim " + req.headDim() + " needs " + needs
                    + " bytes of shared memory; " + device.name() + " gives a block " + device.sharedMemoryPerBlock());
        }
        return Optional.empty();
    }

    private static AttentionChoice choice(
            AttentionPath p,
            DeviceInfo device,
            ComputeDtype dtype,
            AttentionRequest req,
            double memoryFraction,
            String reason) {
        int chunk = req.maxSeqLen();
        if (p == AttentionPath.MATH) {
            chunk = mathQueryChunk(req, device.freeMemory(), memoryFraction);
            if (chunk < req.maxSeqLen()) {
                reason = join(reason, "scores chunked to " + chunk + " queries to fit memory");
            }
        }
        return new AttentionChoice(p, dtype, chunk, reason);
    }

    /**
     * Queries per chunk so that the math path's score matrix, B·H·chunk·Nk fp32 values, fits its
     * share of free memory; at least 1, at most the row length.
     */
    public static int mathQueryChunk(AttentionRequest req, long freeMemory, double memoryFraction) {
        double budget = freeMemory * memoryFraction * SCORE_SHARE;
        double perQuery = (double) req.batch() * req.heads() * req.maxSeqLen() * Float.BYTES;
        long fit = (long) Math.floor(budget / perQuery);
        return (int) Math.max(1, Math.min(req.maxSeqLen(), fit));
    }

    private static String because(
            AttentionPath p, DeviceInfo device, ComputeDtype dtype, AttentionRequest req, List<String> skipped) {
        String what = switch (p) {
            case FLASH_SM80 ->
                device.capability().smName() + ": tensor-core flash in " + dtype + ", head_dim " + req.headDim();
            case FLASH_SM75 ->
                device.capability().smName() + ": Turing tensor-core flash in " + dtype + ", head_dim " + req.headDim();
            case MEM_EFFICIENT -> "CUDA-core online softmax in " + dtype + ", O(N) memory";
            case MATH -> "rows of at most " + req.maxSeqLen() + " tokens: explicit scores are fastest";
            case CPU_FLASH ->
                device.isGpu() ? "running on the host CPU, tiled online softmax" : "tiled online softmax, O(N) memory";
            case CPU_MATH -> "plain reference attention";
        };
        // Name the faster paths that were passed over and why, which is what a person wants to know.
        return skipped.isEmpty() ? what : what + " (" + String.join("; ", skipped) + ")";
    }

    private static String join(String a, String b) {
        if (a == null || a.isEmpty()) {
            return b;
        }
        if (b == null || b.isEmpty()) {
            return a;
        }
        return a + "; " + b;
    }
}

package dev.attune.kernels.select;

import dev.attune.kernels.cuda.launch.EncoderOpsLaunch;
import dev.attune.kernels.cuda.launch.FlashSm75Launch;
import dev.attune.kernels.cuda.launch.FlashSm80Launch;
import dev.attune.kernels.cuda.launch.GemmVariant;
import dev.attune.kernels.cuda.launch.MathAttentionLaunch;
import dev.attune.kernels.cuda.launch.MemEfficientLaunch;
import dev.attune.kernels.device.DeviceInfo;
import dev.attune.kernels.ptx.PtxManifestException;
import dev.attune.kernels.ptx.PtxModuleInfo;
import dev.attune.kernels.ptx.ShippedPtx;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * What the shipped GPU code can run on, module by module: each PTX module's {@code .target} (the
 * oldest GPU that loads it) and the oldest driver whose JIT accepts its PTX ISA version. A GPU
 * path runs on a device only when every module it launches loads there (see {@link #modulesOf});
 * otherwise the selector passes over it, saying which module needs what.
 *
 * <p>Immutable; a pure description, so tests build their own and the selector stays a pure
 * function of its arguments.
 *
 * @param modules      requirement of every shipped module, by module name
 * @param absentReason why no module is known (the manifest could not be read); empty when the
 *                     modules come from a manifest or a test
 */
public record KernelSupport(Map<String, ModuleRequirement> modules, String absentReason) {

    /**
     * What this jar's PTX manifest says ({@link ShippedPtx}), read when this class is first used.
     * Without a readable manifest every GPU path is unavailable and the reason says why; this
     * never throws.
     */
    public static final KernelSupport SHIPPED = fromShippedPtx();

    public KernelSupport {
        modules = Map.copyOf(modules);
        absentReason = absentReason == null ? "" : absentReason;
        modules.forEach((name, req) -> {
            if (!name.equals(req.module())) {
                throw new IllegalArgumentException("module requirement " + req + " filed under " + name);
            }
        });
    }

    /** Support described by these module requirements. */
    public static KernelSupport of(Collection<ModuleRequirement> requirements) {
        Map<String, ModuleRequirement> byName = new LinkedHashMap<>();
        for (ModuleRequirement r : requirements) {
            if (byName.putIfAbsent(r.module(), r) != null) {
                throw new IllegalArgumentException("module " + r.module() + " listed twice");
            }
        }
        return new KernelSupport(byName, "");
    }

    /** No GPU code at all, because of {@code reason}. */
    public static KernelSupport absent(String reason) {
        return new KernelSupport(Map.of(), reason);
    }

    /** Support as a PTX manifest describes it. */
    public static KernelSupport from(ShippedPtx ptx) {
        return of(ptx.modules().stream().map(KernelSupport::requirement).toList());
    }

    static KernelSupport fromShippedPtx() {
        try {
            return from(ShippedPtx.get());
        } catch (PtxManifestException e) {
            return absent(e.getMessage());
        } catch (RuntimeException | LinkageError e) {
            return absent("the shipped PTX manifest could not be used: " + e);
        }
    }

    private static ModuleRequirement requirement(PtxModuleInfo info) {
        return new ModuleRequirement(info.module(), info.targetCapability(), info.minDriverVersion());
    }

    /**
     * The PTX modules a GPU path launches: its attention module first, then the GEMM and the
     * encoder ops it runs with. The CUDA-core paths run with the CUDA-core GEMM, which every GPU
     * that runs them also runs; the tensor-core paths with the GEMM of their generation.
     */
    public static List<String> modulesOf(AttentionPath path) {
        return switch (path) {
            case FLASH_SM80 ->
                List.of(FlashSm80Launch.INSTANCE.module(), GemmVariant.SM80.module(), EncoderOpsLaunch.MODULE);
            case FLASH_SM75 ->
                List.of(FlashSm75Launch.INSTANCE.module(), GemmVariant.SM75.module(), EncoderOpsLaunch.MODULE);
            case MEM_EFFICIENT ->
                List.of(MemEfficientLaunch.INSTANCE.module(), GemmVariant.SIMT.module(), EncoderOpsLaunch.MODULE);
            case MATH ->
                List.of(MathAttentionLaunch.INSTANCE.module(), GemmVariant.SIMT.module(), EncoderOpsLaunch.MODULE);
            case CPU_FLASH, CPU_MATH -> List.of();
        };
    }

    /**
     * Why the shipped PTX of {@code path} cannot be loaded on {@code device}, or empty when every
     * module it launches loads there. Naming the first module that does not: missing from the
     * build, a {@code .target} newer than the GPU, or a PTX ISA newer than the driver accepts.
     * A driver version of 0 (unknown) is not held against the device.
     */
    public Optional<String> whyNot(AttentionPath path, DeviceInfo device) {
        for (String module : modulesOf(path)) {
            ModuleRequirement need = modules.get(module);
            if (need == null) {
                return Optional.of(
                        absentReason.isEmpty()
                                ? "the PTX module " + module + " is not shipped in this build"
                                : "no GPU code is available: " + absentReason);
            }
            if (!device.capability().atLeast(need.target())) {
                return Optional.of(module + "'s PTX targets " + need.target().smName() + " and newer; " + device.name()
                        + " is " + device.capability().smName());
            }
            int driver = device.driverVersion();
            if (driver > 0 && driver < need.minDriverVersion()) {
                return Optional.of("driver " + device.driverVersionString() + " is older than CUDA "
                        + driverString(need.minDriverVersion()) + ", which " + module + "'s PTX needs");
            }
        }
        return Optional.empty();
    }

    /** A driver API version as CUDA writes it: 11020 is "11.2". */
    public static String driverString(int v) {
        return (v / 1000) + "." + (v % 1000) / 10;
    }
}

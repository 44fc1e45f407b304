package dev.attune.kernels.ptx;

import dev.attune.kernels.device.ComputeCapability;
import java.util.List;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * What the manifest says about one shipped PTX module. Immutable.
 *
 * @param module           module name; the PTX is resource {@code dev/attune/kernels/ptx/<file>}
 * @param file             file name of the PTX next to the manifest
 * @param ptxSha256        SHA-256 of the shipped PTX bytes
 * @param sourceSha256     SHA-256 of the {@code sha256sum}-style lines of {@link #inputs}, in order
 * @param inputs           what the PTX was built from, each with its own hash
 * @param nvcc             the version line of the nvcc that wrote it
 * @param nvccArch         the virtual architecture nvcc generated for, e.g. {@code compute_75}
 * @param ptxVersion       PTX ISA version the file declares, e.g. {@code 6.0}
 * @param target           target the file declares, e.g. {@code sm_60}: the oldest GPU that loads it
 * @param checkedFor       targets the file is proven to assemble for
 * @param minDriverVersion oldest CUDA driver (as {@code cuDriverGetVersion} reports it, e.g. 9000)
 *                         whose JIT accepts {@code ptxVersion}
 * @param entries          the kernels, in file order
 */
public record PtxModuleInfo(
        String module,
        String file,
        String ptxSha256,
        String sourceSha256,
        List<PtxInput> inputs,
        String nvcc,
        String nvccArch,
        String ptxVersion,
        String target,
        List<String> checkedFor,
        int minDriverVersion,
        List<PtxEntry> entries) {

    private static final Pattern SHA256 = Pattern.compile("[0-9a-f]{64}");
    private static final Pattern SM = Pattern.compile("sm_(\\d+)(\\d)[a-z]?");

    public PtxModuleInfo {
        require(module, module, "module");
        require(module, file, "file");
        requireSha256(ptxSha256, "module " + module + " ptxSha256");
        requireSha256(sourceSha256, "module " + module + " sourceSha256");
        require(module, nvcc, "nvcc");
        require(module, nvccArch, "nvccArch");
        require(module, ptxVersion, "ptxVersion");
        require(module, target, "target");
        inputs = inputs == null ? List.of() : List.copyOf(inputs);
        checkedFor = checkedFor == null ? List.of() : List.copyOf(checkedFor);
        entries = entries == null ? List.of() : List.copyOf(entries);
        if (minDriverVersion <= 0) {
            throw new IllegalArgumentException(
                    "module " + module + ": minDriverVersion must be positive, got " + minDriverVersion);
        }
        capabilityOf(target);
        checkedFor.forEach(PtxModuleInfo::capabilityOf);
    }

    /** The oldest compute capability that loads this module (its {@code .target}). */
    public ComputeCapability targetCapability() {
        return capabilityOf(target);
    }

    /** The entry called {@code name}, if the module has it. */
    public Optional<PtxEntry> entry(String name) {
        return entries.stream().filter(e -> e.name().equals(name)).findFirst();
    }

    /** {@code sm_86} is 8.6, {@code sm_90a} is 9.0, {@code sm_120} is 12.0. */
    public static ComputeCapability capabilityOf(String smName) {
        Matcher m = smName == null ? null : SM.matcher(smName);
        if (m == null || !m.matches()) {
            throw new IllegalArgumentException("not a PTX target: " + smName);
        }
        return new ComputeCapability(Integer.parseInt(m.group(1)), Integer.parseInt(m.group(2)));
    }

    static void requireSha256(String hex, String what) {
        if (hex == null || !SHA256.matcher(hex).matches()) {
            throw new IllegalArgumentException(what + ": not a lower-case hex SHA-256: " + hex);
        }
    }

    private static void require(String module, String value, String field) {
        if (value == null || value.isBlank()) {
            throw new IllegalArgumentException("PTX module " + (module == null ? "?" : module) + " has no " + field);
        }
    }
}

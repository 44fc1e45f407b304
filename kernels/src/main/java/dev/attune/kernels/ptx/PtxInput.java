package dev.attune.kernels.ptx;

/**
 * One input a module's PTX was built from, as the manifest records it: the module's line of
 * {@code modules.tsv} (named {@code modules.tsv:<module>}), {@code build-ptx.sh}, the CUDA source,
 * or a local header it includes (paths relative to {@code kernels/src/main/cuda}).
 *
 * @param name   what the input is
 * @param sha256 SHA-256 of its bytes (of the table line without its line break), lower-case hex
 */
public record PtxInput(String name, String sha256) {

    public PtxInput {
        if (name == null || name.isBlank()) {
            throw new IllegalArgumentException("a PTX input needs a name");
        }
        PtxModuleInfo.requireSha256(sha256, "input " + name);
    }

    /** The line this input contributes to the module's source hash, as {@code sha256sum} writes it. */
    public String sha256sumLine() {
        return sha256 + "  " + name + "\n";
    }
}

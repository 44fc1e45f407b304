package dev.attune.kernels.ptx;

import java.util.List;
import java.util.OptionalInt;

/**
 * One {@code .entry} (kernel) of a PTX module and its {@code .maxntid} directive, which
 * {@code __launch_bounds__(n)} writes as {@code .maxntid n, 1, 1}.
 *
 * @param name    the entry name, the name a launch asks the driver for
 * @param maxntid the declared maximum block extent, 1 to 3 dimensions; empty when the kernel
 *                declares none
 */
public record PtxEntry(String name, List<Integer> maxntid) {

    public PtxEntry {
        if (name == null || name.isBlank()) {
            throw new IllegalArgumentException("a PTX entry needs a name");
        }
        maxntid = maxntid == null ? List.of() : List.copyOf(maxntid);
        if (maxntid.size() > 3 || maxntid.stream().anyMatch(n -> n < 1)) {
            throw new IllegalArgumentException("entry " + name + ": bad .maxntid " + maxntid);
        }
    }

    /** The most threads a block of this kernel may have (the product of {@code .maxntid}), if declared. */
    public OptionalInt maxThreadsPerBlock() {
        if (maxntid.isEmpty()) {
            return OptionalInt.empty();
        }
        return OptionalInt.of(maxntid.stream().reduce(1, Math::multiplyExact));
    }
}

package dev.attune.kernels.ptx;

import java.nio.file.Files;
import java.nio.file.Path;

/** Where the kernels module's sources are, for tests that compare the shipped PTX with them. */
final class KernelsTree {

    private KernelsTree() {}

    /** {@code kernels/}: Maven's basedir when set, else the working directory or its {@code kernels/}. */
    static Path kernelsDir() {
        String basedir = System.getProperty("basedir");
        Path[] candidates = {
            basedir == null ? null : Path.of(basedir),
            Path.of("").toAbsolutePath(),
            Path.of("kernels").toAbsolutePath()
        };
        for (Path c : candidates) {
            if (c != null && Files.isRegularFile(c.resolve("src/main/cuda/modules.tsv"))) {
                return c;
            }
        }
        throw new IllegalStateException("cannot find kernels/src/main/cuda/modules.tsv from "
                + Path.of("").toAbsolutePath());
    }

    static Path cudaDir() {
        return kernelsDir().resolve("src/main/cuda");
    }

    /** The committed PTX and manifest (the classpath copy is made from these). */
    static Path shippedPtxDir() {
        return kernelsDir().resolve("src/main/resources").resolve(ShippedPtx.RESOURCE_DIR);
    }
}

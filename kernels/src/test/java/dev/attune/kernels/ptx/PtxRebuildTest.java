package dev.attune.kernels.ptx;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Where CUDA 13.0's nvcc is on PATH, rebuilding the PTX gives the shipped files byte for byte.
 * The rebuild runs on a copy of {@code kernels/src/main/cuda} in a temporary directory, so it also
 * proves the output depends on no absolute path. Skipped, saying why, without that nvcc (CI).
 */
class PtxRebuildTest {

    private static final long BUILD_MINUTES = 30;

    @Test
    void rebuildFromACopyOfTheSourcesMatchesTheShippedFiles(@TempDir Path tmp) throws Exception {
        String nvcc = nvccVersion();
        assumeTrue(
                nvcc != null,
                "nvcc is not on PATH: the shipped PTX is not rebuilt here (PtxFreshnessTest still "
                        + "checks it against its sources' hashes)");
        assumeTrue(
                nvcc.contains("release 13.0,"),
                "nvcc on PATH is '" + nvcc + "', not CUDA 13.0, which the shipped "
                        + "PTX is pinned to: not rebuilt here");

        Path src = tmp.resolve("elsewhere/cuda");
        copyTree(KernelsTree.cudaDir(), src);
        Path out = tmp.resolve("out");
        Path log = tmp.resolve("build.log");
        Process p = new ProcessBuilder("bash", src.resolve("build-ptx.sh").toString(), out.toString())
                .redirectErrorStream(true)
                .redirectOutput(log.toFile())
                .start();
        if (!p.waitFor(BUILD_MINUTES, TimeUnit.MINUTES)) {
            p.destroyForcibly();
            throw new AssertionError("build-ptx.sh ran past " + BUILD_MINUTES + " minutes:\n" + Files.readString(log));
        }
        assertEquals(0, p.exitValue(), () -> "build-ptx.sh failed:\n" + read(log));

        Path shipped = KernelsTree.shippedPtxDir();
        List<String> built = names(out);
        assertEquals(names(shipped), built, "files written by build-ptx.sh vs " + shipped);
        for (String name : built) {
            assertArrayEquals(
                    Files.readAllBytes(shipped.resolve(name)),
                    Files.readAllBytes(out.resolve(name)),
                    name + " rebuilt from the committed sources differs from the shipped file; rebuild with "
                            + "kernels/src/main/cuda/build-ptx.sh and commit the result");
        }
        assertTrue(built.contains(ShippedPtx.MANIFEST_FILE));
    }

    /** The "Cuda compilation tools, release X.Y, ..." line of nvcc on PATH, or null without one. */
    private static String nvccVersion() throws InterruptedException {
        try {
            Process p = new ProcessBuilder("nvcc", "--version")
                    .redirectErrorStream(true)
                    .start();
            String text = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (!p.waitFor(1, TimeUnit.MINUTES) || p.exitValue() != 0) {
                return null;
            }
            return text.lines()
                    .filter(l -> l.contains("Cuda compilation tools"))
                    .findFirst()
                    .orElse(null);
        } catch (IOException e) {
            return null;
        }
    }

    private static void copyTree(Path from, Path to) throws IOException {
        try (Stream<Path> files = Files.walk(from)) {
            for (Path f : (Iterable<Path>) files::iterator) {
                Path target = to.resolve(from.relativize(f).toString());
                if (Files.isDirectory(f)) {
                    Files.createDirectories(target);
                } else {
                    Files.copy(f, target);
                }
            }
        }
    }

    private static List<String> names(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return new ArrayList<>(
                    s.map(p -> p.getFileName().toString()).sorted().toList());
        }
    }

    private static String read(Path log) {
        try {
            return Files.readString(log);
        } catch (IOException e) {
            return "(no log: " + e + ")";
        }
    }
}

package dev.attune.kernels.cuda;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Arrays;
import java.util.concurrent.Callable;

/**
 * Puts a JCuda native library where JCuda will look for it, complete and in one step, before JCuda
 * loads it. No JCuda classes; thread-safe; never throws.
 *
 * <p>Why: JCuda ({@code jcuda.LibUtils}) unpacks its JNI library from the natives jar to
 * {@code ${java.io.tmpdir}/<file>} under a fixed name, writing it in place only when the file does
 * not exist yet, and offers no property to change the directory. Several executors starting on one
 * host race: one may load the file while another is still writing it (failing with a truncated
 * library), and a file left truncated by a killed process breaks every later start. Staging writes
 * the complete file to a temporary name in the same directory and renames it over the target
 * atomically, and replaces a target whose bytes differ from the jar's. JCuda then finds the file
 * present and only loads it.
 *
 * <p>What it cannot fix: a differing target owned by another user in a sticky {@code /tmp} (the
 * rename is refused; the note says so), a {@code java.io.tmpdir} mounted {@code noexec}, or another
 * program writing the same name without staging. The alternative that avoids the temporary
 * directory altogether: unpack the library once into a directory and start the JVM with it on
 * {@code java.library.path} (for Spark, {@code spark.executor.extraLibraryPath}); JCuda tries
 * {@code System.loadLibrary} before unpacking.
 */
public final class NativeLibraryStaging {

    private NativeLibraryStaging() {}

    /**
     * Makes {@code target} hold exactly the bytes {@code source} yields.
     *
     * @return "" when the target is in place (already or now), otherwise a note saying why not
     */
    public static String stage(Path target, Callable<InputStream> source) {
        byte[] wanted;
        try (InputStream in = source.call()) {
            if (in == null) {
                return "native library " + target.getFileName() + " is not on the classpath"
                        + " (the jcuda-natives jar for this platform is missing)";
            }
            wanted = in.readAllBytes();
        } catch (Exception e) {
            return "could not read native library " + target.getFileName() + ": " + e;
        }
        try {
            if (Files.isRegularFile(target)
                    && Files.size(target) == wanted.length
                    && Arrays.equals(Files.readAllBytes(target), wanted)) {
                return "";
            }
        } catch (IOException | RuntimeException e) {
            // unreadable: try to replace it below
        }
        Path dir = target.toAbsolutePath().getParent();
        Path tmp = null;
        try {
            Files.createDirectories(dir);
            tmp = Files.createTempFile(dir, target.getFileName().toString() + ".", ".part");
            Files.write(tmp, wanted);
            try {
                Files.setPosixFilePermissions(tmp, PosixFilePermissions.fromString("rwxr-xr-x"));
            } catch (UnsupportedOperationException e) {
                // not a POSIX file system: keep the default permissions
            }
            try {
                Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING);
            }
            tmp = null;
            return "";
        } catch (IOException | RuntimeException e) {
            return "could not stage native library " + target + " (" + e + "); JCuda unpacks it itself,"
                    + " which can race with other JVMs on this host";
        } finally {
            if (tmp != null) {
                try {
                    Files.deleteIfExists(tmp);
                } catch (IOException e) {
                    // best effort
                }
            }
        }
    }
}

package dev.attune.kernels.cuda;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The CUDA driver's on-disk cache of JIT-compiled PTX, as this process's environment sets it up.
 * The driver reads {@code CUDA_CACHE_DISABLE}, {@code CUDA_CACHE_PATH} and
 * {@code CUDA_CACHE_MAXSIZE} once, at {@code cuInit}; a JVM cannot change its own environment, so
 * these must be set where the executor is launched ({@code spark.executorEnv.CUDA_CACHE_PATH},
 * see docs/deploying.md). This class only reports what is in effect, so that a cache that is off
 * or wiped with every container is visible rather than showing up as seconds of JIT per module
 * on every executor start.
 *
 * <p>Pure (no JCuda, no I/O), immutable, thread-safe.
 *
 * @param directory where compiled modules are kept; "" when neither {@code CUDA_CACHE_PATH} nor
 *                  a home directory is known
 * @param fromEnv   whether {@code CUDA_CACHE_PATH} chose it (else the driver's default,
 *                  {@code $HOME/.nv/ComputeCache})
 * @param disabled  whether {@code CUDA_CACHE_DISABLE=1} turns the cache off
 * @param maxSize   {@code CUDA_CACHE_MAXSIZE} as set (bytes), or "" for the driver's default
 * @param warning   one line on why the cache will not spare later processes the JIT, or ""
 */
public record PtxJitCache(String directory, boolean fromEnv, boolean disabled, String maxSize, String warning) {

    public static final String PATH_VARIABLE = "CUDA_CACHE_PATH";
    public static final String DISABLE_VARIABLE = "CUDA_CACHE_DISABLE";
    public static final String MAXSIZE_VARIABLE = "CUDA_CACHE_MAXSIZE";

    /** Directories whose content does not outlive a reboot or a container, besides java.io.tmpdir. */
    private static final List<String> TEMPORARY = List.of("/tmp", "/var/tmp", "/dev/shm", "/run");

    /** The cache of this process: its environment, {@code user.home} and {@code java.io.tmpdir}. */
    public static PtxJitCache current() {
        return of(System.getenv(), System.getProperty("user.home", ""), System.getProperty("java.io.tmpdir", ""));
    }

    /**
     * The cache that {@code env} sets up. {@code userHome} stands in for {@code HOME} when the
     * environment lacks it; {@code tmpDir} counts as temporary like {@code /tmp}.
     */
    public static PtxJitCache of(Map<String, String> env, String userHome, String tmpDir) {
        Map<String, String> e = env == null ? Map.of() : env;
        boolean disabled = "1".equals(trim(e.get(DISABLE_VARIABLE)));
        String set = trim(e.get(PATH_VARIABLE));
        boolean fromEnv = !set.isEmpty();
        String home = trim(e.get("HOME"));
        if (home.isEmpty()) {
            home = trim(userHome);
        }
        String dir = fromEnv ? set : home.isEmpty() || home.equals("?") ? "" : home + "/.nv/ComputeCache";
        String maxSize = trim(e.get(MAXSIZE_VARIABLE));
        String warning;
        if (disabled) {
            warning = DISABLE_VARIABLE + "=1 turns the CUDA JIT cache off: every executor JIT-compiles every PTX"
                    + " module again (seconds each); unset it and point " + PATH_VARIABLE
                    + " at a persistent directory";
        } else if (dir.isEmpty()) {
            warning = "no " + PATH_VARIABLE + " and no home directory: the CUDA driver has nowhere to cache"
                    + " compiled PTX; set " + PATH_VARIABLE + " to a persistent directory";
        } else if (isTemporary(dir, tmpDir)) {
            warning = "the CUDA JIT cache " + dir + " is in a temporary directory: PTX is compiled again after"
                    + " every clean-up; set " + PATH_VARIABLE + " to a persistent directory";
        } else {
            warning = "";
        }
        return new PtxJitCache(dir, fromEnv, disabled, maxSize, warning);
    }

    /** One line on the cache, e.g. "CUDA JIT cache /home/spark/.nv/ComputeCache (default, size limit: driver default)". */
    public String describe() {
        StringBuilder sb = new StringBuilder("CUDA JIT cache ");
        if (disabled) {
            sb.append("disabled (").append(DISABLE_VARIABLE).append("=1)");
        } else {
            sb.append(directory.isEmpty() ? "(no directory)" : directory)
                    .append(" (")
                    .append(fromEnv ? PATH_VARIABLE : "default")
                    .append(", size limit: ")
                    .append(maxSize.isEmpty() ? "driver default" : maxSize + " bytes from " + MAXSIZE_VARIABLE)
                    .append(')');
        }
        if (!warning.isEmpty()) {
            sb.append("; warning: ").append(warning);
        }
        return sb.toString();
    }

    /** The warning, when there is one. */
    public Optional<String> warningLine() {
        return warning.isEmpty() ? Optional.empty() : Optional.of(warning);
    }

    private static boolean isTemporary(String dir, String tmpDir) {
        Path p;
        try {
            p = Path.of(dir).toAbsolutePath().normalize();
        } catch (RuntimeException e) {
            return false;
        }
        List<String> roots = new ArrayList<>(TEMPORARY);
        String t = trim(tmpDir);
        if (!t.isEmpty()) {
            roots.add(t);
        }
        for (String root : roots) {
            Path r;
            try {
                r = Path.of(root).toAbsolutePath().normalize();
            } catch (RuntimeException e) {
                continue;
            }
            if (!r.toString().equals("/") && p.startsWith(r)) {
                return true;
            }
        }
        return false;
    }

    private static String trim(String s) {
        return s == null ? "" : s.trim();
    }
}

package dev.attune.kernels.device;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Decides, without loading any JCuda class or native code, whether the NVIDIA user-space driver
 * ({@code libcuda.so.1}) is present, by looking for the file in the directories the dynamic
 * loader would search: those of {@code LD_LIBRARY_PATH}, those listed in {@code /etc/ld.so.conf}
 * (and the files it includes), and the usual driver locations ({@link #STANDARD_DIRS}). It also
 * reads the kernel module version from {@code /proc/driver/nvidia/version} when that exists, to
 * tell "no GPU driver at all" from "kernel module loaded but the library is not mounted here".
 *
 * <p>The answer is a cheap pre-check, not a guarantee: a library that is found may still fail to
 * load (wrong architecture, a CUDA stub, a kernel module of another version); {@link GpuProbe}
 * reports those when it loads the driver. A library found by the loader through a route this
 * class does not model (an {@code rpath}, a preloaded library) is missed; the reason then lists
 * the directories searched so that the directory can be added to {@code LD_LIBRARY_PATH}.
 *
 * <p>Instances are immutable and thread-safe; {@link #locate()} does file-system reads only and
 * never throws.
 */
public final class DriverLocator {

    /** The file name the CUDA driver API is loaded by. */
    public static final String LIBRARY = "libcuda.so.1";

    /** Where distributions, the NVIDIA container toolkit, CUDA forward compatibility and WSL put the driver. */
    public static final List<Path> STANDARD_DIRS = List.of(
            Path.of("/usr/lib/x86_64-linux-gnu"),
            Path.of("/usr/lib64"),
            Path.of("/usr/lib"),
            Path.of("/usr/local/nvidia/lib64"),
            Path.of("/usr/local/cuda/compat"),
            Path.of("/usr/lib/wsl/lib"));

    /** The kernel module's version file. */
    public static final Path PROC_VERSION = Path.of("/proc/driver/nvidia/version");

    /** The dynamic loader's configuration. */
    public static final Path LD_SO_CONF = Path.of("/etc/ld.so.conf");

    private static final Pattern MODULE_VERSION =
            Pattern.compile("Kernel Module.*?\\s([0-9]+\\.[0-9]+(?:\\.[0-9]+)?)(?=\\s|$)");

    /**
     * What {@link #locate()} found.
     *
     * @param library             the driver library, when found
     * @param kernelModuleVersion the loaded kernel module's version ("535.104.05"), or "" when
     *                            {@code /proc/driver/nvidia/version} is absent or unreadable
     * @param reason              one sentence: where the library is, or that it is missing and where
     *                            it was looked for
     */
    public record Result(Optional<Path> library, String kernelModuleVersion, String reason) {

        public Result {
            kernelModuleVersion = kernelModuleVersion == null ? "" : kernelModuleVersion;
            reason = reason == null ? "" : reason;
        }

        public boolean found() {
            return library.isPresent();
        }
    }

    private final List<Path> searchDirs;
    private final Path procVersionFile;

    /**
     * A locator over exactly these directories, in order.
     *
     * @param procVersionFile the kernel module's version file; a path that does not exist means
     *                        "no kernel module information"
     */
    public DriverLocator(List<Path> searchDirs, Path procVersionFile) {
        this.searchDirs = List.copyOf(new LinkedHashSet<>(searchDirs));
        this.procVersionFile = procVersionFile;
    }

    /** The locator for this process: {@link #forEnvironment} of {@link System#getenv()}. */
    public static DriverLocator system() {
        return forEnvironment(System.getenv());
    }

    /**
     * The directories of {@code LD_LIBRARY_PATH} in {@code env} (empty entries skipped), then those
     * of {@link #LD_SO_CONF}, then {@link #STANDARD_DIRS}; duplicates removed.
     */
    public static DriverLocator forEnvironment(Map<String, String> env) {
        return forEnvironment(env, LD_SO_CONF, PROC_VERSION);
    }

    /** As {@link #forEnvironment(Map)} with the loader configuration and version file given. */
    public static DriverLocator forEnvironment(Map<String, String> env, Path ldSoConf, Path procVersionFile) {
        List<Path> dirs = new ArrayList<>(ldLibraryPath(env));
        dirs.addAll(ldSoConfDirs(ldSoConf));
        dirs.addAll(STANDARD_DIRS);
        return new DriverLocator(dirs, procVersionFile);
    }

    /** The absolute directories of {@code LD_LIBRARY_PATH}. */
    static List<Path> ldLibraryPath(Map<String, String> env) {
        String v = env == null ? null : env.get("LD_LIBRARY_PATH");
        List<Path> out = new ArrayList<>();
        if (v == null) {
            return out;
        }
        for (String part : v.split(":")) {
            addDir(out, part);
        }
        return out;
    }

    /**
     * The directories an {@code ld.so.conf}-style file lists, following {@code include} lines
     * (globs relative to the including file's directory allowed in the last path element).
     * Unreadable files contribute nothing.
     */
    public static List<Path> ldSoConfDirs(Path conf) {
        List<Path> out = new ArrayList<>();
        readConf(conf, out, new LinkedHashSet<>(), 0);
        return out;
    }

    private static void readConf(Path conf, List<Path> out, Set<Path> seen, int depth) {
        if (conf == null || depth > 8 || !seen.add(conf.toAbsolutePath().normalize())) {
            return;
        }
        List<String> lines;
        try {
            lines = Files.readAllLines(conf, StandardCharsets.UTF_8);
        } catch (IOException | RuntimeException e) {
            return;
        }
        for (String line : lines) {
            String l = line.strip();
            int hash = l.indexOf('#');
            if (hash >= 0) {
                l = l.substring(0, hash).strip();
            }
            if (l.isEmpty() || l.startsWith("hwcap")) {
                continue;
            }
            if (l.startsWith("include ") || l.startsWith("include\t")) {
                for (Path inc :
                        expandInclude(conf, l.substring("include".length()).strip())) {
                    readConf(inc, out, seen, depth + 1);
                }
                continue;
            }
            addDir(out, l);
        }
    }

    private static List<Path> expandInclude(Path conf, String pattern) {
        List<Path> out = new ArrayList<>();
        try {
            Path p = Path.of(pattern);
            if (!p.isAbsolute()) {
                Path parent = conf.toAbsolutePath().getParent();
                p = parent == null ? p : parent.resolve(p);
            }
            String last = p.getFileName() == null ? "" : p.getFileName().toString();
            if (!last.contains("*") && !last.contains("?") && !last.contains("[")) {
                out.add(p);
                return out;
            }
            Path dir = p.getParent();
            if (dir == null || !Files.isDirectory(dir)) {
                return out;
            }
            try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir, last)) {
                ds.forEach(out::add);
            }
            out.sort(null);
        } catch (IOException | RuntimeException e) {
            // an unreadable include contributes nothing
        }
        return out;
    }

    private static void addDir(List<Path> out, String text) {
        String t = text.strip();
        if (t.isEmpty()) {
            return;
        }
        try {
            Path p = Path.of(t);
            if (p.isAbsolute()) {
                out.add(p.normalize());
            }
        } catch (InvalidPathException e) {
            // not a path; skip
        }
    }

    /** The directories searched, in order. */
    public List<Path> searchDirs() {
        return searchDirs;
    }

    /** Looks for {@link #LIBRARY}; never throws. */
    public Result locate() {
        String module = kernelModuleVersion();
        for (Path dir : searchDirs) {
            Path candidate = dir.resolve(LIBRARY);
            try {
                if (Files.isRegularFile(candidate)) {
                    String where = "NVIDIA driver library " + candidate
                            + (module.isEmpty() ? "" : " (kernel module " + module + ")");
                    return new Result(Optional.of(candidate), module, where);
                }
            } catch (SecurityException e) {
                // unreadable directory: keep looking
            }
        }
        StringBuilder reason = new StringBuilder("no NVIDIA driver: ")
                .append(LIBRARY)
                .append(" not found in ")
                .append(searchDirs);
        if (!module.isEmpty()) {
            reason.append("; the NVIDIA kernel module ")
                    .append(module)
                    .append(" is loaded, so the user-space driver is missing from this container or library path"
                            + " (run the container with the NVIDIA container toolkit, or add the driver's directory"
                            + " to LD_LIBRARY_PATH)");
        }
        return new Result(Optional.empty(), module, reason.toString());
    }

    /** The loaded kernel module's version, or "" when unknown. */
    String kernelModuleVersion() {
        if (procVersionFile == null) {
            return "";
        }
        try {
            if (!Files.isReadable(procVersionFile)) {
                return "";
            }
            String text = Files.readString(procVersionFile, StandardCharsets.UTF_8);
            return parseModuleVersion(text);
        } catch (IOException | RuntimeException e) {
            return "";
        }
    }

    /**
     * The version in the text of {@code /proc/driver/nvidia/version}, e.g. "535.104.05" from
     * "NVRM version: NVIDIA UNIX x86_64 Kernel Module  535.104.05  Sat Aug 19 ..." or from
     * "NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  550.54.14  Release Build ...";
     * "" when there is none.
     */
    static String parseModuleVersion(String text) {
        Matcher m = MODULE_VERSION.matcher(text == null ? "" : text);
        return m.find() ? m.group(1) : "";
    }
}

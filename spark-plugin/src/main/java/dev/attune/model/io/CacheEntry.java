package dev.attune.model.io;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.attune.model.ModelFormatException;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.file.DirectoryStream;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One directory of the local model cache (a converted built-in model, a copy of a remote model):
 * built once per host, verified on every use, rebuilt when damaged.
 *
 * <p><b>Lifecycle.</b> {@link #resolve} returns the entry's directory {@code dir}. When {@code dir}
 * holds a complete entry it is returned as it is. Otherwise, under an exclusive lock on the
 * sibling file {@code <dir>.lock}, the builder fills a fresh private directory {@code
 * <dir>.tmp-<uuid>}; a manifest, {@value #MANIFEST}, listing every regular file under it (path
 * relative to the entry, {@code /}-separated, module sub-folders included) and its byte size is
 * written into it; and it is renamed to {@code dir} in one atomic move. The lock file stays (it is
 * empty and costs nothing); a lock is released when its holder ends, however it ends.
 *
 * <p><b>Verification.</b> An entry is complete when its manifest can be read and every file it
 * lists exists under {@code dir} as a regular file of the listed size. This costs one {@code stat}
 * per file and reads no file's content, so an entry truncated or partly deleted on disk (a full
 * disk, a careless clean-up, a crash before the data reached the disk) is caught, but bytes
 * changed in place with the size kept are not. Files not in the manifest are ignored. A directory
 * without a manifest (an entry written by an older Attune, or by hand) counts as damaged.
 *
 * <p><b>Repair.</b> A damaged entry is logged once, as a WARN naming the directory and the first
 * bad file, by the process that repairs it; under the lock it is renamed aside to a {@code
 * <dir>.tmp-<uuid>} name, deleted, and built anew from its source.
 *
 * <p><b>Concurrency.</b> Several threads and several JVMs on one host may resolve the same entry at
 * once. Only the holder of the lock builds, repairs or deletes anything for an entry (threads of
 * one JVM are serialized in front of the file lock, which Java grants per process), and the
 * holder checks the entry again after acquiring the lock, so an entry another process built or
 * repaired meanwhile is used as it is. A reader therefore sees under {@code dir} either nothing
 * or a complete entry (the rename is atomic), unless the entry is damaged on disk after it was
 * built. Because only the lock holder ever writes an entry's temporary directories, every {@code
 * <dir>.tmp-*} sibling present when the lock is acquired is the leftover of a process killed while
 * building or repairing; they are all deleted before building. A process that keeps an old copy
 * of a repaired entry's files open or memory-mapped keeps reading them (on POSIX file systems a
 * deleted file lives on while it is open).
 *
 * <p><b>Failure.</b> When the builder throws, its temporary directory is deleted and {@link
 * #resolve} throws a {@link ModelFormatException} whose message says what could not be built, in
 * which cache directory, and why ({@code cannot prepare built-in model builtin:x in
 * /cache/models/x-1234: ...}); when a damaged entry was being rebuilt it adds what was damaged.
 * Nothing is left under {@code dir}, so the next resolve tries again. A leftover temporary
 * directory that cannot be deleted is logged and skipped, never fatal.
 */
public final class CacheEntry {

    /** The manifest's file name, in the entry's top-level directory. */
    public static final String MANIFEST = "attune-cache.json";

    private static final Logger LOG = LoggerFactory.getLogger(CacheEntry.class);
    private static final int FORMAT = 1;
    private static final ObjectMapper JSON = new ObjectMapper();
    /** One monitor per entry: a JVM may hold a file's lock only once, so its threads queue here. */
    private static final ConcurrentHashMap<Path, Object> MONITORS = new ConcurrentHashMap<>();

    /** Fills an empty directory with an entry's files. */
    @FunctionalInterface
    public interface Builder {
        void build(Path target) throws IOException;
    }

    private CacheEntry() {}

    /**
     * The directory {@code dir}, verified against its manifest, built by {@code builder} if it is
     * missing or damaged.
     *
     * @param dir the entry's final directory; its parent is created if needed
     * @param action what is done, for the failure message: {@code "prepare built-in model
     *     builtin:x"} gives {@code "cannot prepare built-in model builtin:x in <dir>: <why>"}
     * @param again what the warning about a damaged entry ends with, e.g. {@code "converting it
     *     again"}
     * @param builder fills the temporary directory it is given (which exists and is empty)
     * @throws ModelFormatException when the entry cannot be built or its directory not prepared
     */
    public static Path resolve(Path dir, String action, String again, Builder builder) {
        if (problem(dir).isEmpty()) {
            return dir;
        }
        Path key = dir.toAbsolutePath().normalize();
        String damage = null;
        synchronized (MONITORS.computeIfAbsent(key, k -> new Object())) {
            try {
                Files.createDirectories(key.getParent());
                Path lockFile = key.resolveSibling(key.getFileName() + ".lock");
                try (FileChannel ch = FileChannel.open(lockFile, StandardOpenOption.CREATE, StandardOpenOption.WRITE);
                        FileLock ignored = ch.lock()) {
                    Optional<String> now = problem(dir);
                    if (now.isEmpty()) {
                        return dir; // another thread or process built or repaired it while we waited
                    }
                    if (exists(key)) {
                        damage = now.get();
                        LOG.warn("attune: cached model {} is damaged ({}); {}", dir, damage, again);
                        Path aside = tmpSibling(key);
                        Files.move(key, aside, StandardCopyOption.ATOMIC_MOVE);
                        try {
                            deleteTree(aside);
                        } catch (IOException e) {
                            LOG.warn("attune: cannot delete the damaged copy {}: {}", aside, why(e));
                        }
                    }
                    deleteLeftovers(key);
                    Path tmp = tmpSibling(key);
                    try {
                        Files.createDirectory(tmp);
                        builder.build(tmp);
                        writeManifest(tmp);
                        Files.move(tmp, key, StandardCopyOption.ATOMIC_MOVE);
                    } finally {
                        deleteTree(tmp);
                    }
                }
                return dir;
            } catch (IOException | RuntimeException e) {
                throw new ModelFormatException(
                        "cannot " + action + " in " + dir + ": " + why(e)
                                + (damage == null ? "" : " (rebuilding it because it was damaged: " + damage + ")"),
                        e);
            }
        }
    }

    /**
     * Why {@code dir} is not a complete entry ({@code "no directory"}, {@code "model.safetensors
     * is 1234 bytes, expected 90868376"}, ...), or empty when it is one.
     */
    public static Optional<String> problem(Path dir) {
        if (!Files.isDirectory(dir)) {
            return Optional.of(exists(dir) ? "not a directory" : "no directory");
        }
        Path manifest = dir.resolve(MANIFEST);
        JsonNode files;
        try {
            JsonNode root = JSON.readTree(manifest.toFile());
            files = root == null ? null : root.get("files");
            if (root == null || root.path("format").asInt() != FORMAT || files == null || !files.isArray()) {
                return Optional.of(MANIFEST + " is not a manifest of format " + FORMAT);
            }
        } catch (IOException e) {
            return Optional.of(
                    Files.exists(manifest)
                            ? MANIFEST + " cannot be read: "
                                    + why(e).lines().findFirst().orElse("")
                            : "no " + MANIFEST + ", so its files cannot be checked");
        }
        for (JsonNode f : files) {
            String rel = f.path("path").asText("");
            long expected = f.path("size").asLong(-1);
            Path p = dir.resolve(rel).normalize();
            if (rel.isEmpty() || expected < 0 || !p.startsWith(dir.normalize()) || p.equals(dir.normalize())) {
                return Optional.of(MANIFEST + " has a bad entry " + f);
            }
            BasicFileAttributes a;
            try {
                a = Files.readAttributes(p, BasicFileAttributes.class);
            } catch (NoSuchFileException e) {
                return Optional.of(rel + " is missing");
            } catch (IOException e) {
                return Optional.of(rel + " cannot be read: " + e.getMessage());
            }
            if (!a.isRegularFile()) {
                return Optional.of(rel + " is not a regular file");
            }
            if (a.size() != expected) {
                return Optional.of(rel + " is " + a.size() + " bytes, expected " + expected);
            }
        }
        return Optional.empty();
    }

    private static void writeManifest(Path tmp) throws IOException {
        List<Path> files;
        try (Stream<Path> s = Files.walk(tmp)) {
            files = new ArrayList<>(s.filter(Files::isRegularFile)
                    .filter(p -> !p.equals(tmp.resolve(MANIFEST)))
                    .sorted(Comparator.comparing(p -> tmp.relativize(p).toString()))
                    .toList());
        }
        ObjectNode root = JSON.createObjectNode();
        root.put("format", FORMAT);
        ArrayNode list = root.putArray("files");
        for (Path p : files) {
            StringBuilder rel = new StringBuilder();
            for (Path part : tmp.relativize(p)) {
                rel.append(rel.length() == 0 ? "" : "/").append(part);
            }
            list.addObject().put("path", rel.toString()).put("size", Files.size(p));
        }
        JSON.writerWithDefaultPrettyPrinter().writeValue(tmp.resolve(MANIFEST).toFile(), root);
    }

    /** Deletes every {@code <dir>.tmp-*} sibling; the caller holds the entry's lock. */
    private static void deleteLeftovers(Path dir) throws IOException {
        String prefix = dir.getFileName() + ".tmp-";
        List<Path> leftovers = new ArrayList<>();
        try (DirectoryStream<Path> s = Files.newDirectoryStream(dir.getParent(), prefix + "*")) {
            s.forEach(leftovers::add);
        }
        for (Path p : leftovers) {
            try {
                deleteTree(p);
                LOG.info("attune: removed {}, left over by an interrupted cache build", p);
            } catch (IOException e) {
                LOG.warn("attune: cannot remove {}, left over by an interrupted cache build: {}", p, why(e));
            }
        }
    }

    /** An exception's message, with the kind of file-system error where the message is only a path. */
    private static String why(Exception e) {
        if (e instanceof FileSystemException f && f.getReason() == null) {
            return f.getClass().getSimpleName() + ": " + f.getMessage();
        }
        return e.getMessage() == null ? e.toString() : e.getMessage();
    }

    private static Path tmpSibling(Path dir) {
        return dir.resolveSibling(dir.getFileName() + ".tmp-" + UUID.randomUUID());
    }

    private static boolean exists(Path p) {
        return Files.exists(p, LinkOption.NOFOLLOW_LINKS);
    }

    private static void deleteTree(Path p) throws IOException {
        if (!exists(p)) {
            return;
        }
        try (Stream<Path> s = Files.walk(p)) {
            for (Path q : s.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(q);
            }
        }
    }
}

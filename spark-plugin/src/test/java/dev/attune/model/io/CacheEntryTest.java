package dev.attune.model.io;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.attune.model.ModelFormatException;
import dev.attune.testing.LogCapture;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The cache-entry life cycle with a small builder (no model conversion): the manifest lists every
 * file with its size, a clean entry is not built again, a missing manifest, a missing file or a
 * file of the wrong size is rebuilt with one warning, leftovers of killed builds are removed, a
 * failing build leaves nothing behind and says which directory, and threads racing on one entry
 * build it once.
 */
class CacheEntryTest {

    @TempDir
    Path root;

    private final AtomicInteger builds = new AtomicInteger();
    private LogCapture log;

    @BeforeEach
    void capture() {
        log = LogCapture.of(CacheEntry.class);
    }

    @AfterEach
    void release() {
        log.close();
    }

    private CacheEntry.Builder small() {
        return target -> {
            builds.incrementAndGet();
            Files.writeString(target.resolve("config.json"), "{\"hidden_size\": 4}");
            Files.write(target.resolve("model.safetensors"), new byte[1000]);
            Files.createDirectories(target.resolve("1_Pooling"));
            Files.writeString(target.resolve("1_Pooling/config.json"), "{}");
        };
    }

    private Path resolve(Path dir) {
        return CacheEntry.resolve(dir, "prepare test model", "building it again", small());
    }

    @Test
    void writesAManifestOfEveryFileAndDoesNotRebuildACleanEntry() throws IOException {
        Path dir = root.resolve("models/m-1");
        assertEquals(dir, resolve(dir));
        assertEquals(1, builds.get());
        JsonNode files = new ObjectMapper()
                .readTree(dir.resolve(CacheEntry.MANIFEST).toFile())
                .get("files");
        List<String> listed = new ArrayList<>();
        files.forEach(
                f -> listed.add(f.get("path").asText() + "=" + f.get("size").asLong()));
        assertEquals(List.of("1_Pooling/config.json=2", "config.json=18", "model.safetensors=1000"), listed);
        assertTrue(CacheEntry.problem(dir).isEmpty());

        Files.writeString(dir.resolve("notes.txt"), "files outside the manifest are ignored");
        assertEquals(dir, resolve(dir));
        assertEquals(1, builds.get(), "a clean entry is used as it is");
        assertTrue(log.messages().isEmpty(), log.messages().toString());
        assertTrue(Files.isRegularFile(dir.resolveSibling("m-1.lock")));
    }

    @Test
    void aTruncatedMissingOrUnlistedEntryIsRebuiltWithOneWarning() throws IOException {
        Path dir = root.resolve("m");
        resolve(dir);

        try (FileChannel ch = FileChannel.open(dir.resolve("model.safetensors"), StandardOpenOption.WRITE)) {
            ch.truncate(500);
        }
        assertEquals(
                "model.safetensors is 500 bytes, expected 1000",
                CacheEntry.problem(dir).orElseThrow());
        resolve(dir);
        assertEquals(2, builds.get());
        assertEquals(1000, Files.size(dir.resolve("model.safetensors")));
        assertEquals(
                List.of("WARN attune: cached model " + dir
                        + " is damaged (model.safetensors is 500 bytes, expected 1000); building it again"),
                log.messages());

        Files.delete(dir.resolve("1_Pooling/config.json"));
        resolve(dir);
        assertEquals(3, builds.get());
        assertTrue(
                log.messages().get(1).contains("(1_Pooling/config.json is missing)"),
                log.messages().toString());

        Files.delete(dir.resolve(CacheEntry.MANIFEST)); // as an entry written before manifests were
        resolve(dir);
        assertEquals(4, builds.get());
        assertTrue(
                log.messages().get(2).contains("no " + CacheEntry.MANIFEST),
                log.messages().toString());

        Files.writeString(dir.resolve(CacheEntry.MANIFEST), "{\"format\": 1, \"files\": [{\"path\": \"../x\"");
        resolve(dir);
        assertEquals(5, builds.get());
        assertTrue(
                log.messages().get(3).contains(CacheEntry.MANIFEST + " cannot be read"),
                log.messages().toString());

        assertTrue(CacheEntry.problem(dir).isEmpty());
        assertEquals(List.of("m", "m.lock"), names(root), "the damaged copies are deleted");
    }

    @Test
    void leftoversOfKilledBuildsAreRemovedAndOtherEntriesKept() throws IOException {
        Path dir = root.resolve("m");
        for (String leftover : List.of("m.tmp-0c2f", "m.tmp-" + java.util.UUID.randomUUID())) {
            Files.createDirectories(root.resolve(leftover).resolve("1_Pooling"));
            Files.write(root.resolve(leftover).resolve("model.safetensors"), new byte[10]);
        }
        Files.createDirectories(root.resolve("other.tmp-1")); // another entry's: not this lock's business
        Files.createDirectories(root.resolve("m2.tmp-1"));
        resolve(dir);
        assertEquals(List.of("m", "m.lock", "m2.tmp-1", "other.tmp-1"), names(root));
    }

    @Test
    void aFailedBuildLeavesNothingAndNamesTheDirectory() throws IOException {
        Path dir = root.resolve("m");
        ModelFormatException e = assertThrows(
                ModelFormatException.class,
                () -> CacheEntry.resolve(dir, "prepare test model", "again", target -> {
                    Files.write(target.resolve("model.safetensors"), new byte[10]);
                    throw new IOException("No space left on device");
                }));
        assertEquals("cannot prepare test model in " + dir + ": No space left on device", e.getMessage());
        assertEquals(List.of("m.lock"), names(root), "the temporary directory is deleted");

        resolve(dir);
        Files.delete(dir.resolve("config.json"));
        e = assertThrows(
                ModelFormatException.class,
                () -> CacheEntry.resolve(dir, "prepare test model", "again", target -> {
                    throw new ModelFormatException("the jar is corrupt");
                }));
        assertEquals(
                "cannot prepare test model in " + dir
                        + ": the jar is corrupt (rebuilding it because it was damaged: config.json is missing)",
                e.getMessage());
        assertEquals(List.of("m.lock"), names(root));
        resolve(dir);
        assertTrue(CacheEntry.problem(dir).isEmpty(), "the next resolve tries again");
    }

    @Test
    void threadsRacingOnOneEntryBuildItOnce() throws Exception {
        Path dir = root.resolve("m");
        CountDownLatch start = new CountDownLatch(1);
        CacheEntry.Builder slow = target -> {
            try {
                Thread.sleep(200);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            small().build(target);
        };
        ExecutorService pool = Executors.newFixedThreadPool(4);
        try {
            List<Future<Path>> all = new ArrayList<>();
            for (int i = 0; i < 4; i++) {
                all.add(pool.submit(() -> {
                    start.await();
                    return CacheEntry.resolve(dir, "prepare test model", "again", slow);
                }));
            }
            start.countDown();
            for (Future<Path> f : all) {
                assertEquals(dir, f.get(30, TimeUnit.SECONDS));
            }
        } finally {
            pool.shutdownNow();
        }
        assertEquals(1, builds.get(), "built once");
    }

    private static List<String> names(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    @Test
    void aPlainFileInPlaceOfTheDirectoryIsReplaced() throws IOException {
        Path dir = root.resolve("m");
        Files.writeString(dir, "not a directory");
        assertEquals("not a directory", CacheEntry.problem(dir).orElseThrow());
        resolve(dir);
        assertTrue(CacheEntry.problem(dir).isEmpty());
        assertFalse(log.messages().isEmpty());
    }
}

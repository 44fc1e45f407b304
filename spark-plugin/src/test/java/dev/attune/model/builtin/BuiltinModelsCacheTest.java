package dev.attune.model.builtin;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.attune.kernels.attention.CpuFlashAttention;
import dev.attune.kernels.cpu.CpuThreads;
import dev.attune.model.EncoderModel;
import dev.attune.model.io.CacheEntry;
import dev.attune.model.tokenizer.TextTokenizer;
import dev.attune.task.EncoderScoring;
import dev.attune.testing.LogCapture;
import java.io.IOException;
import java.io.InputStream;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The built-in model cache on disk: a killed conversion's temporary directory is removed by the
 * next conversion; an entry whose model.safetensors was truncated or whose tokenizer.json was
 * deleted is found damaged, converted again (with one warning) into the same bytes as a fresh
 * conversion, and loads; a clean entry is used as it is, not converted again. One reference
 * conversion is made for the class and each damaged case starts from a copy of it, so the class
 * converts four times in all.
 */
class BuiltinModelsCacheTest {

    private static final BuiltinModel MODEL = BuiltinModel.ALL_MINILM_L6_V2;

    @TempDir
    static Path referenceRoot;

    private static Path reference;
    private static Map<String, String> referenceHashes;
    private static float[] referenceVector;
    private static CpuThreads threads;

    @TempDir
    Path root;

    @BeforeAll
    static void convertOnce() throws IOException {
        threads = new CpuThreads(1);
        reference = BuiltinModels.resolve(MODEL, referenceRoot);
        referenceHashes = hashes(reference);
        referenceVector = embed(reference);
    }

    @AfterAll
    static void close() {
        threads.close();
    }

    @Test
    void aKilledConversionsTemporaryDirectoryIsRemovedByTheNextOne() throws IOException {
        Path dir = BuiltinModels.cacheDirectory(MODEL, root);
        Path leftover = dir.resolveSibling(dir.getFileName() + ".tmp-3f1c9a2e-killed");
        Files.createDirectories(leftover.resolve("1_Pooling"));
        Files.write(leftover.resolve("model.safetensors"), new byte[4096]); // a partial file
        try (LogCapture log = LogCapture.of(CacheEntry.class)) {
            assertEquals(dir, BuiltinModels.resolve(MODEL, root));
            assertEquals(List.of(), log.messages(), "no entry was damaged: nothing to warn about");
        }
        assertFalse(Files.exists(leftover), "the leftover of the killed conversion is deleted");
        assertEquals(List.of(dir.getFileName().toString(), dir.getFileName() + ".lock"), names(dir.getParent()));
        assertEquals(referenceHashes, hashes(dir));
        assertArrayEquals(referenceVector, embed(dir));
    }

    @Test
    void aTruncatedModelFileIsConvertedAgain() throws IOException {
        Path dir = copyOfReference();
        Path weights = dir.resolve("model.safetensors");
        long size = Files.size(weights);
        try (FileChannel ch = FileChannel.open(weights, StandardOpenOption.WRITE)) {
            ch.truncate(size / 2);
        }
        try (LogCapture log = LogCapture.of(CacheEntry.class)) {
            assertEquals(dir, BuiltinModels.resolve(MODEL, root));
            assertEquals(
                    List.of("WARN attune: cached model " + dir + " is damaged (model.safetensors is " + size / 2
                            + " bytes, expected " + size + "); converting it again"),
                    log.messages());
        }
        assertEquals(referenceHashes, hashes(dir), "the same bytes as a fresh conversion");
        assertArrayEquals(referenceVector, embed(dir));
        assertEquals(List.of(dir.getFileName().toString(), dir.getFileName() + ".lock"), names(dir.getParent()));
    }

    @Test
    void aDeletedTokenizerIsConvertedAgain() throws IOException {
        Path dir = copyOfReference();
        Files.delete(dir.resolve(TextTokenizer.FILE));
        try (LogCapture log = LogCapture.of(CacheEntry.class)) {
            assertEquals(dir, BuiltinModels.resolve(MODEL, root));
            assertEquals(
                    List.of("WARN attune: cached model " + dir + " is damaged (" + TextTokenizer.FILE
                            + " is missing); converting it again"),
                    log.messages());
        }
        assertEquals(referenceHashes, hashes(dir));
        assertArrayEquals(referenceVector, embed(dir));
    }

    @Test
    void aCleanEntryIsNotConvertedAgain() throws IOException {
        Path dir = copyOfReference();
        assertTrue(CacheEntry.problem(dir).isEmpty(), "the copy is a clean entry");
        Map<String, String> before = identities(dir);
        try (LogCapture log = LogCapture.of(CacheEntry.class)) {
            assertEquals(dir, BuiltinModels.resolve(MODEL, root));
            assertEquals(dir, BuiltinModels.resolve(MODEL, root));
            assertEquals(List.of(), log.messages());
        }
        assertEquals(before, identities(dir), "same files (inode and modification time): nothing converted");
    }

    /** The reference entry copied to where {@link BuiltinModels} keeps it under {@link #root}. */
    private Path copyOfReference() throws IOException {
        Path dir = BuiltinModels.cacheDirectory(MODEL, root);
        assertEquals(referenceRoot.relativize(reference), root.relativize(dir));
        try (Stream<Path> s = Files.walk(reference)) {
            for (Path p : s.toList()) {
                Path q = dir.resolve(reference.relativize(p).toString());
                if (Files.isDirectory(p)) {
                    Files.createDirectories(q);
                } else {
                    Files.copy(p, q);
                }
            }
        }
        return dir;
    }

    private static float[] embed(Path dir) {
        try (EncoderModel m = EncoderModel.load(dir)) {
            return EncoderScoring.embed(m, List.of("a cached model"), 1, 512, new CpuFlashAttention(), threads)[0];
        }
    }

    /** SHA-256 of every file, by relative path. */
    private static Map<String, String> hashes(Path dir) throws IOException {
        Map<String, String> out = new TreeMap<>();
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.filter(Files::isRegularFile).toList()) {
                MessageDigest d = sha256();
                try (InputStream in = Files.newInputStream(p)) {
                    byte[] buf = new byte[1 << 16];
                    for (int n; (n = in.read(buf)) > 0; ) {
                        d.update(buf, 0, n);
                    }
                }
                out.put(dir.relativize(p).toString(), HexFormat.of().formatHex(d.digest()));
            }
        }
        return out;
    }

    /** File key (device and inode) and modification time of every file, by relative path. */
    private static Map<String, String> identities(Path dir) throws IOException {
        Map<String, String> out = new TreeMap<>();
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.toList()) {
                BasicFileAttributes a = Files.readAttributes(p, BasicFileAttributes.class);
                out.put(
                        dir.relativize(p).toString(),
                        a.fileKey() + "@" + a.lastModifiedTime().toMillis());
            }
        }
        return out;
    }

    private static List<String> names(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    private static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}

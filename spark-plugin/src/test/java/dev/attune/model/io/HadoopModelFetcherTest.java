package dev.attune.model.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.attune.model.EncoderModel;
import dev.attune.model.ModelFormatException;
import dev.attune.model.builtin.BuiltinModels;
import dev.attune.task.EncoderScoring;
import dev.attune.testing.LogCapture;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A model read through Hadoop's FileSystem (here its local implementation, the same code path as
 * hdfs: and s3a:) is copied once into the cache, loads and embeds like the original, is reused
 * while unchanged and fetched anew when it changes; a cached copy damaged on disk is fetched again
 * and a killed fetch's temporary directory removed.
 */
class HadoopModelFetcherTest {

    @Test
    void copiesOnceLoadsAndRefetchesWhenTheModelChanges(@TempDir Path tmp) throws Exception {
        Path original = BuiltinModels.resolve("builtin:all-MiniLM-L6-v2");
        Path remote = remoteCopy(original, tmp);
        Path cache = tmp.resolve("cache");
        String uri = remote.toUri().toString(); // file:/... through Hadoop's LocalFileSystem
        Path first = HadoopModelFetcher.fetch(uri, cache, Map.of("fs.file.impl.disable.cache", "true"));
        assertTrue(first.startsWith(cache));
        assertTrue(Files.isRegularFile(first.resolve("model.safetensors")));
        assertTrue(Files.isRegularFile(first.resolve("1_Pooling/config.json")), "module folders are copied");
        assertEquals(first, HadoopModelFetcher.fetch(uri, cache, Map.of()), "unchanged model: the cached copy");

        try (EncoderModel a = EncoderModel.load(original);
                EncoderModel b = EncoderModel.load(first);
                var threads = new dev.attune.kernels.cpu.CpuThreads(1)) {
            var k = new dev.attune.kernels.attention.CpuFlashAttention();
            assertArrayEquals(
                    EncoderScoring.embed(a, java.util.List.of("same model"), 1, 512, k, threads)[0],
                    EncoderScoring.embed(b, java.util.List.of("same model"), 1, 512, k, threads)[0]);
        }

        Files.writeString(remote.resolve("README.md"), "changed");
        assertNotEquals(first, HadoopModelFetcher.fetch(uri, cache, Map.of()), "a changed model is fetched anew");

        ModelFormatException e = assertThrows(
                ModelFormatException.class,
                () -> HadoopModelFetcher.fetch(tmp.resolve("missing").toUri().toString(), cache, Map.of()));
        assertTrue(e.getMessage().contains("missing"), e.getMessage());
    }

    @Test
    void aDamagedCopyIsFetchedAgainAndAKilledFetchsLeftoverRemoved(@TempDir Path tmp) throws Exception {
        Path remote = remoteCopy(BuiltinModels.resolve("builtin:all-MiniLM-L6-v2"), tmp);
        Path cache = tmp.resolve("cache");
        String uri = remote.toUri().toString();
        Path dir = HadoopModelFetcher.fetch(uri, cache, Map.of());

        Path weights = dir.resolve("model.safetensors");
        long size = Files.size(weights);
        try (FileChannel ch = FileChannel.open(weights, StandardOpenOption.WRITE)) {
            ch.truncate(size / 2);
        }
        Path leftover = dir.resolveSibling(dir.getFileName() + ".tmp-killed");
        Files.createDirectories(leftover);
        Files.write(leftover.resolve("model.safetensors"), new byte[4096]);
        try (LogCapture log = LogCapture.of(CacheEntry.class)) {
            assertEquals(dir, HadoopModelFetcher.fetch(uri, cache, Map.of()));
            assertEquals(
                    List.of("WARN attune: cached model " + dir + " is damaged (model.safetensors is " + size / 2
                            + " bytes, expected " + size + "); fetching it again"),
                    log.messages());
        }
        assertEquals(-1L, Files.mismatch(remote.resolve("model.safetensors"), weights), "copied again in full");
        assertFalse(Files.exists(leftover), "the killed fetch's temporary directory is deleted");
        try (Stream<Path> s = Files.list(cache)) {
            assertEquals(
                    List.of(dir.getFileName().toString(), dir.getFileName() + ".lock"),
                    s.map(p -> p.getFileName().toString()).sorted().toList());
        }
        assertTrue(CacheEntry.problem(dir).isEmpty());
        try (EncoderModel m = EncoderModel.load(dir)) {
            assertEquals(384, m.dimension());
        }
    }

    /** A copy of a local model directory, to be read back through Hadoop as a {@code file:} URI. */
    private static Path remoteCopy(Path original, Path tmp) throws java.io.IOException {
        Path remote = tmp.resolve("remote-model");
        Files.createDirectories(remote.resolve("1_Pooling"));
        try (Stream<Path> s = Files.walk(original)) {
            for (Path p : s.filter(Files::isRegularFile).toList()) {
                Path dst = remote.resolve(original.relativize(p).toString());
                Files.createDirectories(dst.getParent());
                Files.copy(p, dst);
            }
        }
        return remote;
    }
}

package dev.attune.model.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.attune.model.EncoderModel;
import dev.attune.model.ModelFormatException;
import dev.attune.model.builtin.BuiltinModels;
import dev.attune.task.EncoderScoring;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A model read through Hadoop's FileSystem (here its local implementation, the same code path as
 * hdfs: and s3a:) is copied once into the cache, loads and embeds like the original, is reused
 * while unchanged and fetched anew when it changes.
 */
class HadoopModelFetcherTest {

    @Test
    void copiesOnceLoadsAndRefetchesWhenTheModelChanges(@TempDir Path tmp) throws Exception {
        Path original = BuiltinModels.resolve("builtin:all-MiniLM-L6-v2");
        Path remote = tmp.resolve("remote-model");
        Files.createDirectories(remote.resolve("1_Pooling"));
        try (Stream<Path> s = Files.walk(original)) {
            for (Path p : s.filter(Files::isRegularFile).toList()) {
                Path dst = remote.resolve(original.relativize(p).toString());
                Files.createDirectories(dst.getParent());
                Files.copy(p, dst);
            }
        }
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
}

package dev.attune.kernels.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.concurrent.Callable;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class NativeLibraryStagingTest {

    @TempDir
    Path tmp;

    private static final byte[] LIB = "not really an ELF file, but the bytes matter".getBytes();

    private static Callable<InputStream> source(byte[] b) {
        return () -> new ByteArrayInputStream(b);
    }

    @Test
    void writesTheLibraryWhenAbsent() throws IOException {
        Path target = tmp.resolve("sub/libX.so");
        assertEquals("", NativeLibraryStaging.stage(target, source(LIB)));
        assertArrayEquals(LIB, Files.readAllBytes(target));
        try (var s = Files.list(target.getParent())) {
            assertEquals(1, s.count(), "no temporary file may be left behind");
        }
    }

    @Test
    void replacesATruncatedLibrary() throws IOException {
        Path target = tmp.resolve("libX.so");
        Files.write(target, new byte[] {1, 2, 3});
        assertEquals("", NativeLibraryStaging.stage(target, source(LIB)));
        assertArrayEquals(LIB, Files.readAllBytes(target));
    }

    @Test
    void leavesACompleteLibraryAlone() throws IOException {
        Path target = tmp.resolve("libX.so");
        Files.write(target, LIB);
        FileTime old = FileTime.fromMillis(1_000_000L);
        Files.setLastModifiedTime(target, old);
        assertEquals("", NativeLibraryStaging.stage(target, source(LIB)));
        assertEquals(old, Files.getLastModifiedTime(target));
    }

    @Test
    void aMissingResourceIsANote() {
        String note = NativeLibraryStaging.stage(tmp.resolve("libX.so"), () -> null);
        assertTrue(note.contains("not on the classpath"), note);
    }

    @Test
    void anUnwritableDirectoryIsANote() throws IOException {
        Path file = Files.createFile(tmp.resolve("a-file"));
        String note = NativeLibraryStaging.stage(file.resolve("libX.so"), source(LIB));
        assertTrue(note.startsWith("could not stage native library"), note);
    }

    @Test
    void theJCudaDriverLibraryIsInTheNativesJar() {
        String name = JCudaDeviceQuery.driverLibraryFileName();
        assertEquals("libJCudaDriver-12.6.0-linux-x86_64.so", name);
        assertTrue(jcuda.LibUtils.class.getResource("/lib/" + name) != null, name);
    }
}

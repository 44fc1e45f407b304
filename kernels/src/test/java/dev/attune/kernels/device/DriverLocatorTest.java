package dev.attune.kernels.device;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DriverLocatorTest {

    @TempDir
    Path tmp;

    private Path dir(String name) throws IOException {
        return Files.createDirectories(tmp.resolve(name));
    }

    @Test
    void findsTheLibraryInTheFirstDirectoryThatHasIt() throws IOException {
        Path empty = dir("empty");
        Path a = dir("a");
        Path b = dir("b");
        Files.createFile(a.resolve("libcuda.so.1"));
        Files.createFile(b.resolve("libcuda.so.1"));
        DriverLocator.Result r = new DriverLocator(List.of(empty, a, b), tmp.resolve("no-proc")).locate();
        assertTrue(r.found());
        assertEquals(a.resolve("libcuda.so.1"), r.library().orElseThrow());
        assertTrue(r.reason().contains(a.resolve("libcuda.so.1").toString()), r.reason());
    }

    @Test
    void reportsTheDirectoriesSearchedWhenAbsent() throws IOException {
        Path a = dir("a");
        Path b = dir("b");
        Files.createFile(a.resolve("libcuda.so")); // the toolkit's unversioned link is not the driver
        Files.createDirectories(b.resolve("libcuda.so.1")); // a directory is not a library
        DriverLocator.Result r = new DriverLocator(List.of(a, b), tmp.resolve("no-proc")).locate();
        assertFalse(r.found());
        assertEquals("no NVIDIA driver: libcuda.so.1 not found in [" + a + ", " + b + "]", r.reason());
        assertEquals("", r.kernelModuleVersion());
    }

    @Test
    void kernelModuleWithoutLibraryPointsAtTheContainer() throws IOException {
        Path proc = tmp.resolve("version");
        Files.writeString(
                proc,
                "NVRM version: NVIDIA UNIX x86_64 Kernel Module  535.104.05  Sat Aug 19 01:15:15 UTC 2023\n"
                        + "GCC version:  gcc version 12.2.0 (Debian 12.2.0-14)\n");
        DriverLocator.Result r = new DriverLocator(List.of(dir("a")), proc).locate();
        assertFalse(r.found());
        assertEquals("535.104.05", r.kernelModuleVersion());
        assertTrue(r.reason().contains("kernel module 535.104.05 is loaded"), r.reason());
        assertTrue(r.reason().contains("NVIDIA container toolkit"), r.reason());
    }

    @Test
    void readsOpenKernelModuleVersions() {
        assertEquals(
                "550.54.14",
                DriverLocator.parseModuleVersion(
                        "NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  550.54.14  Release Build  (dvs-builder@U16)"));
        assertEquals("", DriverLocator.parseModuleVersion("something else 1.2"));
    }

    @Test
    void searchesLdLibraryPathFirstThenLoaderConfigThenStandardDirs() throws IOException {
        Path a = dir("a");
        Path b = dir("b");
        Path confDir = dir("ld.so.conf.d");
        Files.writeString(confDir.resolve("10-cuda.conf"), "# comment\n" + b + "\n");
        Files.writeString(confDir.resolve("ignored.txt"), "/should/not/appear\n");
        Path conf = tmp.resolve("ld.so.conf");
        Files.writeString(conf, "include " + confDir + "/*.conf\n/opt/custom/lib # trailing\nhwcap 1 nosegneg\n");
        DriverLocator loc = DriverLocator.forEnvironment(
                Map.of("LD_LIBRARY_PATH", ":" + a + "::relative/dir:" + a), conf, tmp.resolve("no-proc"));
        List<Path> dirs = loc.searchDirs();
        assertEquals(List.of(a, b, Path.of("/opt/custom/lib")), dirs.subList(0, 3));
        assertTrue(dirs.containsAll(DriverLocator.STANDARD_DIRS));
        assertFalse(dirs.contains(Path.of("/should/not/appear")));
        assertEquals(3 + DriverLocator.STANDARD_DIRS.size(), dirs.size(), dirs::toString);

        Files.createFile(b.resolve("libcuda.so.1"));
        assertEquals(b.resolve("libcuda.so.1"), loc.locate().library().orElseThrow());
    }

    @Test
    void missingLoaderConfigContributesNothing() {
        assertEquals(List.of(), DriverLocator.ldSoConfDirs(tmp.resolve("absent.conf")));
    }

    @Test
    void standardDirsAreTheDocumentedOnes() {
        assertEquals(
                List.of(
                        Path.of("/usr/lib/x86_64-linux-gnu"),
                        Path.of("/usr/lib64"),
                        Path.of("/usr/lib"),
                        Path.of("/usr/local/nvidia/lib64"),
                        Path.of("/usr/local/cuda/compat"),
                        Path.of("/usr/lib/wsl/lib")),
                DriverLocator.STANDARD_DIRS);
    }
}

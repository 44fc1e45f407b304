package dev.attune.kernels.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The CUDA JIT cache read from the environment, and the one-line warnings. */
class PtxJitCacheTest {

    static Map<String, String> env(String... kv) {
        Map<String, String> m = new HashMap<>();
        for (int i = 0; i < kv.length; i += 2) {
            m.put(kv[i], kv[i + 1]);
        }
        return m;
    }

    @Test
    void theDefaultIsUnderHome() {
        PtxJitCache c = PtxJitCache.of(env("HOME", "/home/spark"), "/ignored", "/tmp");
        assertEquals("/home/spark/.nv/ComputeCache", c.directory());
        assertFalse(c.fromEnv());
        assertEquals("", c.warning());
        assertEquals("CUDA JIT cache /home/spark/.nv/ComputeCache (default, size limit: driver default)", c.describe());
    }

    @Test
    void userHomeStandsInForAMissingHome() {
        PtxJitCache c = PtxJitCache.of(env(), "/var/lib/spark", "/tmp");
        assertEquals("/var/lib/spark/.nv/ComputeCache", c.directory());
        assertTrue(c.warningLine().isEmpty());
    }

    @Test
    void cudaCachePathAndMaxSizeAreReported() {
        PtxJitCache c = PtxJitCache.of(
                env("HOME", "/home/spark", "CUDA_CACHE_PATH", "/data/cuda-cache", "CUDA_CACHE_MAXSIZE", "4294967296"),
                "",
                "/tmp");
        assertEquals("/data/cuda-cache", c.directory());
        assertTrue(c.fromEnv());
        assertEquals(
                "CUDA JIT cache /data/cuda-cache (CUDA_CACHE_PATH, size limit: 4294967296 bytes from"
                        + " CUDA_CACHE_MAXSIZE)",
                c.describe());
    }

    @Test
    void aDisabledCacheWarns() {
        PtxJitCache c = PtxJitCache.of(env("HOME", "/home/spark", "CUDA_CACHE_DISABLE", "1"), "", "/tmp");
        assertTrue(c.disabled());
        assertTrue(c.warning().startsWith("CUDA_CACHE_DISABLE=1 turns the CUDA JIT cache off"), c.warning());
        assertTrue(c.describe().startsWith("CUDA JIT cache disabled (CUDA_CACHE_DISABLE=1); warning: "), c.describe());
        assertFalse(PtxJitCache.of(env("HOME", "/h", "CUDA_CACHE_DISABLE", "0"), "", "/tmp")
                .disabled());
    }

    @Test
    void aCacheInATemporaryDirectoryWarns() {
        for (String dir : new String[] {"/tmp/cuda", "/var/tmp/x/", "/dev/shm/c", "/scratch/jvm-tmp/c"}) {
            PtxJitCache c = PtxJitCache.of(env("CUDA_CACHE_PATH", dir), "/home/spark", "/scratch/jvm-tmp");
            assertTrue(c.warning().contains("is in a temporary directory"), dir + ": " + c.warning());
            assertFalse(c.warning().contains("\n"));
        }
        // A home under /tmp (some containers) is as temporary as the directory itself.
        assertTrue(PtxJitCache.of(env("HOME", "/tmp"), "", "/tmp").warningLine().isPresent());
        // A name that merely begins like a temporary directory is not one.
        assertEquals(
                "",
                PtxJitCache.of(env("CUDA_CACHE_PATH", "/tmpfs-not/c"), "", "/tmp")
                        .warning());
    }

    @Test
    void noDirectoryAtAllWarns() {
        PtxJitCache c = PtxJitCache.of(env(), "?", "/tmp");
        assertEquals("", c.directory());
        assertTrue(c.warning().contains("nowhere to cache"), c.warning());
    }
}

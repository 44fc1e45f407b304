package dev.attune.app.docs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/**
 * docs/decoders.md's table of prefill paths is what the selector answers today, so the page
 * cannot drift from the code; regenerate it with
 * {@code java -cp <classpath> dev.attune.app.docs.DecoderPathsDoc docs/decoders.md}.
 */
class DecoderPathsDocTest {

    private static Path page() {
        String home = System.getProperty("spark.test.home");
        Path base = home != null ? Path.of(home) : Path.of("").toAbsolutePath();
        return base.getParent().resolve("docs/decoders.md");
    }

    @Test
    void checkedInTableMatchesTheSelector() throws Exception {
        String page = Files.readString(page());
        assertEquals(
                DecoderPathsDoc.render(page),
                page,
                "docs/decoders.md is stale: regenerate it with "
                        + "java -cp <classpath> dev.attune.app.docs.DecoderPathsDoc docs/decoders.md");
    }

    @Test
    void theKvTableFollowsTheDevicesMemory() {
        String t = DecoderPathsDoc.kvTable();
        assertTrue(
                t.lines()
                        .anyMatch(l -> l.startsWith(
                                "| Llama-3-8B | Tesla T4 | fp16 | 15.0 GiB | 128 KiB | the weights do" + " not fit")),
                t);
        // Qwen2.5-0.5B: 2 x 24 layers x 2 KV heads x 64 x 2 bytes = 12 KiB a token, 24 MiB a sequence;
        // one of the two default tasks sharing the A100 holds about half of what one alone would (3010).
        assertTrue(
                t.lines()
                        .anyMatch(l -> l.startsWith(
                                "| Qwen2.5-0.5B | NVIDIA A100-SXM4-80GB | bf16 | 0.9 GiB | 12" + " KiB | 1503 |")),
                t);
    }

    @Test
    void theTableTellsTuringFromAmpere() {
        String t = DecoderPathsDoc.table();
        assertTrue(
                t.lines()
                        .anyMatch(l ->
                                l.startsWith("| Tesla T4 ") && l.contains("`flash-sm75`") && l.contains("| fp16 |")),
                t);
        assertTrue(
                t.lines().anyMatch(l -> l.contains("A100") && l.contains("`flash-sm80`") && l.contains("| bf16 |")), t);
        assertTrue(t.lines().anyMatch(l -> l.startsWith("| CPU ") && l.contains("`cpu-flash`")), t);
    }
}

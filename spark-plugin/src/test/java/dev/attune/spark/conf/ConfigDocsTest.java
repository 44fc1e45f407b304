package dev.attune.spark.conf;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/**
 * docs/configs.md is what {@link ConfigDocs#render()} makes of the registry, so the page cannot go
 * stale: a key added, removed or re-documented in {@link AttuneConf} fails this test until the page
 * is regenerated ({@code ConfigDocs.main("docs/configs.md")} from the repository root). The page
 * lists every key with its default.
 */
class ConfigDocsTest {

    static Path page() {
        String home = System.getProperty("spark.test.home");
        Path base = home != null ? Path.of(home) : Path.of("").toAbsolutePath();
        return base.getParent().resolve("docs/configs.md");
    }

    @Test
    void checkedInPageMatchesTheRegistry() throws IOException {
        Path page = page();
        assertTrue(
                Files.isRegularFile(page),
                page + " is missing: generate it with "
                        + "java -cp <classpath> dev.attune.spark.conf.ConfigDocs docs/configs.md");
        assertEquals(
                ConfigDocs.render(),
                Files.readString(page),
                page + " is stale: regenerate it with "
                        + "java -cp <classpath> dev.attune.spark.conf.ConfigDocs docs/configs.md");
    }

    @Test
    void pageListsEveryKeyWithItsDefault() {
        String md = ConfigDocs.render();
        for (ConfEntry<?> e : AttuneConf.entries()) {
            String row = md.lines()
                    .filter(l -> l.startsWith("| `" + e.key() + "` |"))
                    .findFirst()
                    .orElseThrow(() -> new AssertionError("no row for " + e.key()));
            assertTrue(row.contains(e.dflt().isEmpty() ? "(empty)" : "`" + e.dflt() + "`"), row);
            assertFalse(row.contains("<") || row.contains(">"), "raw angle brackets would render as HTML: " + row);
            assertEquals(5, row.split("(?<!\\\\)\\|", -1).length - 1, "a table row has 5 unescaped bars: " + row);
        }
    }
}

package dev.attune.kernels.emulation;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;

/**
 * The emulator builds every shipped module and registers exactly the entries the manifest lists,
 * so a kernel added to a {@code .cu} without its {@code ATTUNE_EMU_KERNEL} line (or the reverse)
 * fails here rather than going untested.
 */
class KernelEmulationModulesTest {

    @Test
    void everyManifestEntryIsEmulated() throws Exception {
        JsonNode manifest = new ObjectMapper()
                .readTree(Files.readString(KernelEmulator.kernelsDir()
                        .resolve("src/main/resources/dev/attune/kernels/ptx/manifest.json")));
        List<String> modules = new ArrayList<>();
        for (JsonNode module : manifest.get("modules")) {
            String name = module.get("module").asText();
            modules.add(name);
            TreeSet<String> entries = new TreeSet<>();
            module.get("entries").forEach(e -> entries.add(e.get("name").asText()));
            KernelEmulator.Result listed =
                    KernelEmulator.exec(List.of(KernelEmulator.executable(name).toString(), "--list"), null);
            assertEquals(0, listed.status(), listed.output());
            assertEquals(entries, new TreeSet<>(listed.output().lines().toList()), name + ": emulated entries");
        }
        assertEquals(new TreeSet<>(modules), new TreeSet<>(KernelEmulator.MODULES), "emulated modules");
    }
}

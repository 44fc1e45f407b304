package dev.attune.app.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code attune probe} and {@code attune embed --device}: per-device paths with reasons, and forced-path errors. */
class ProbeCommandTest {

    private record Run(int code, String out, String err) {}

    private static Run run(String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int code = AttuneCli.run(
                args,
                new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8));
        return new Run(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    @Test
    void simulatedDevicesEachGetTheirPathAndAReason() throws Exception {
        Run r = run("probe", "--simulate", "T4,V100,A100,H100,P100", "--model", "builtin:all-MiniLM-L6-v2", "--json");
        assertEquals(0, r.code(), r.err());
        JsonNode devices = new ObjectMapper().readTree(r.out()).get("devices");
        List<String> paths = new ArrayList<>();
        List<String> dtypes = new ArrayList<>();
        for (JsonNode d : devices) {
            paths.add(d.get("path").asText());
            dtypes.add(d.get("dtype").asText());
            assertTrue(d.get("simulated").asBoolean());
            assertFalse(d.get("reason").asText().isBlank());
        }
        assertEquals(List.of("flash-sm75", "mem-efficient", "flash-sm80", "flash-sm80", "mem-efficient"), paths);
        assertEquals(List.of("fp16", "fp16", "fp16", "fp16", "fp32"), dtypes);
        assertEquals("7.5", devices.get(0).get("computeCapability").asText());
        assertTrue(devices.get(1).get("reason").asText().contains("sm_70"));
    }

    @Test
    void withoutSimulationTheCpuIsListedWithTheReasonNoGpuWasFound() throws Exception {
        Run r = run("probe", "--json");
        assertEquals(0, r.code(), r.err());
        JsonNode root = new ObjectMapper().readTree(r.out());
        JsonNode devices = root.get("devices");
        JsonNode last = devices.get(devices.size() - 1);
        assertEquals("cpu", last.get("kind").asText());
        assertEquals("cpu-flash", last.get("path").asText());
        if (devices.size() == 1) {
            assertTrue(
                    root.get("note").asText().startsWith("no GPU"),
                    root.get("note").asText());
        }
        Run text = run("probe");
        assertTrue(text.out().lines().anyMatch(l -> l.startsWith("cpu ")), text.out());
        assertTrue(text.out().lines().anyMatch(l -> l.startsWith("CUDA JIT cache ")), text.out());
        assertTrue(root.get("jitCache").asText().startsWith("CUDA JIT cache "), root.toString());
    }

    @Test
    void warmLoadsModulesOnRealGpusOnly() throws Exception {
        Run sim = run("probe", "--simulate", "T4", "--warm");
        assertEquals(2, sim.code());
        assertTrue(sim.err().contains("--warm"), sim.err());
        Run r = run("probe", "--warm", "--json");
        assertEquals(0, r.code(), r.err());
        for (JsonNode d : new ObjectMapper().readTree(r.out()).get("devices")) {
            // Only a real GPU gets a "warm" list, one entry per module, none of them refused.
            assertEquals(d.get("kind").asText().equals("gpu"), d.has("warm"), d.toString());
            if (d.has("warm")) {
                assertTrue(d.get("warm").size() > 0, d.toString());
                for (JsonNode m : d.get("warm")) {
                    assertEquals("", m.get("failure").asText(), m.toString());
                }
            }
        }
    }

    @Test
    void aForcedPathTheDeviceCannotRunIsNamed() throws Exception {
        Run r = run("probe", "--simulate", "T4", "--attention-path", "flash-sm80", "--json");
        assertEquals(0, r.code());
        String error = new ObjectMapper()
                .readTree(r.out())
                .get("devices")
                .get(0)
                .get("error")
                .asText();
        assertTrue(error.contains("Tesla T4") && error.contains("flash-sm80") && error.contains("sm_80"), error);
        assertEquals(2, run("probe", "--simulate", "T5").code());
        assertEquals(2, run("probe", "--attention-path", "warp").code());
    }

    @Test
    void embedOnASimulatedDeviceWritesPathAndDevice(@TempDir Path dir) throws Exception {
        Path in = dir.resolve("in.jsonl");
        Files.write(in, List.of("{\"id\": 1, \"text\": \"hello\"}", "{\"id\": 2, \"text\": null}"));
        Path out = dir.resolve("out.jsonl");
        Run r = run("embed", "--input", in.toString(), "--output", out.toString(), "--device", "simulate:T4");
        assertEquals(0, r.code(), r.err());
        List<String> lines = Files.readAllLines(out);
        JsonNode first = new ObjectMapper().readTree(lines.get(0));
        assertEquals("flash-sm75", first.get("path").asText());
        assertEquals("Tesla T4 (simulated)", first.get("device").asText());
        JsonNode second = new ObjectMapper().readTree(lines.get(1));
        assertTrue(second.get("path").isNull());
        Run cpu = run("embed", "--input", in.toString(), "--output", out.toString(), "--device", "cpu", "--overwrite");
        assertEquals(0, cpu.code());
        assertEquals(
                "cpu-flash",
                new ObjectMapper()
                        .readTree(Files.readAllLines(out).get(0))
                        .get("path")
                        .asText());

        Path forcedOut = dir.resolve("forced.jsonl");
        Run forced = run(
                "embed",
                "--input",
                in.toString(),
                "--output",
                forcedOut.toString(),
                "--device",
                "simulate:T4",
                "--attention-path",
                "flash-sm80");
        assertEquals(1, forced.code());
        assertTrue(forced.err().contains("Tesla T4") && forced.err().contains("flash-sm80"), forced.err());
        assertFalse(Files.exists(forcedOut));
        assertEquals(
                2,
                run("embed", "--input", in.toString(), "--output", out.toString(), "--device", "gpu9")
                        .code());
    }
}

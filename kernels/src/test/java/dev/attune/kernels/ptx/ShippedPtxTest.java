package dev.attune.kernels.ptx;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.attune.kernels.device.ComputeCapability;
import dev.attune.kernels.select.KernelSupport;
import dev.attune.kernels.select.ModuleRequirement;
import java.io.IOException;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Reading a manifest and its PTX from a class path, on a small manifest written here. */
class ShippedPtxTest {

    private static final String DIR = "x/ptx/";
    private static final String PTX = ".version 6.0\n.target sm_60\n.address_size 64\n"
            + ".visible .entry k_f32(\n.param .u64 p\n)\n.maxntid 128, 1, 1\n{\nret;\n}\n";
    private static final String HASH = "ab".repeat(32);

    private static String manifest(String ptxSha) {
        return """
                {
                  "format": 1,
                  "modules": [
                    {
                      "module": "tiny",
                      "file": "tiny.ptx",
                      "ptxSha256": "%s",
                      "sourceSha256": "%s",
                      "inputs": [{"name": "tiny.cu", "sha256": "%s"}],
                      "nvcc": "Cuda compilation tools, release 13.0, V13.0.88",
                      "nvccArch": "compute_75",
                      "ptxVersion": "6.0",
                      "target": "sm_60",
                      "checkedFor": ["sm_60", "sm_75"],
                      "minDriverVersion": 9000,
                      "entries": [{"name": "k_f32", "maxntid": [128, 1, 1]}]
                    }
                  ]
                }
                """.formatted(ptxSha, HASH, HASH);
    }

    private static ShippedPtx load(Path root, String manifest, String ptx) throws IOException {
        Path dir = Files.createDirectories(root.resolve(DIR));
        if (manifest != null) {
            Files.writeString(dir.resolve("manifest.json"), manifest, StandardCharsets.UTF_8);
        }
        Files.writeString(dir.resolve("tiny.ptx"), ptx, StandardCharsets.UTF_8);
        URLClassLoader loader = new URLClassLoader(new URL[] {root.toUri().toURL()}, null);
        return ShippedPtx.load(loader, DIR);
    }

    @Test
    void readsModulesAndVerifiedPtx(@TempDir Path root) throws IOException {
        String sha = ShippedPtx.sha256(PTX.getBytes(StandardCharsets.UTF_8));
        ShippedPtx ptx = load(root, manifest(sha), PTX);
        PtxModuleInfo tiny = ptx.module("tiny");
        assertEquals(ComputeCapability.SM60, tiny.targetCapability());
        assertEquals(9000, ptx.minDriverVersion("tiny"));
        assertEquals(List.of(new PtxEntry("k_f32", List.of(128, 1, 1))), tiny.entries());
        assertEquals(PTX, ptx.ptxText("tiny"));
        assertEquals(tiny.entries(), PtxText.entries(ptx.ptxText("tiny")));
        assertEquals(
                new KernelSupport(Map.of("tiny", new ModuleRequirement("tiny", ComputeCapability.SM60, 9000)), ""),
                KernelSupport.from(ptx));
        PtxManifestException unknown = assertThrows(PtxManifestException.class, () -> ptx.module("huge"));
        assertTrue(
                unknown.getMessage().contains("'huge'") && unknown.getMessage().contains("tiny"), unknown.getMessage());
    }

    @Test
    void ptxThatDiffersFromTheManifestIsRefused(@TempDir Path root) throws IOException {
        ShippedPtx ptx = load(root, manifest(ShippedPtx.sha256(PTX.getBytes(StandardCharsets.UTF_8))), PTX + "\n");
        PtxManifestException e = assertThrows(PtxManifestException.class, () -> ptx.ptxText("tiny"));
        assertTrue(e.getMessage().contains("tiny.ptx") && e.getMessage().contains("build-ptx.sh"), e.getMessage());
    }

    @Test
    void missingOrBadManifestIsAClearError(@TempDir Path root) throws IOException {
        PtxManifestException missing = assertThrows(PtxManifestException.class, () -> load(root, null, PTX));
        assertTrue(missing.getMessage().contains("x/ptx/manifest.json is not on the classpath"), missing.getMessage());
        PtxManifestException bad =
                assertThrows(PtxManifestException.class, () -> load(root.resolve("b"), manifest("not-a-hash"), PTX));
        assertTrue(bad.getMessage().contains("tiny") && bad.getMessage().contains("ptxSha256"), bad.getMessage());
        PtxManifestException format = assertThrows(
                PtxManifestException.class, () -> load(root.resolve("c"), "{\"format\": 2, \"modules\": []}", PTX));
        assertTrue(format.getMessage().contains("format 2"), format.getMessage());
    }

    @Test
    void supportWithoutManifestRulesOutGpuPathsWithoutThrowing() {
        KernelSupport s = KernelSupport.absent("the PTX manifest is missing");
        assertTrue(s.modules().isEmpty());
        assertEquals("the PTX manifest is missing", s.absentReason());
    }
}

package dev.attune.kernels.ptx;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.attune.kernels.select.KernelSupport;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

/**
 * The shipped PTX was built from the sources in this tree, by this build script, from this table:
 * every hash the manifest records is recomputed here and must match. A failure means a source,
 * header, table line or the script changed after the PTX was built: run
 * {@code kernels/src/main/cuda/build-ptx.sh} and commit its output with the change.
 */
class PtxFreshnessTest {

    private static final String REBUILD = "; rebuild with kernels/src/main/cuda/build-ptx.sh and commit the result";

    private static Path cuda;
    private static ModuleTable table;
    private static ShippedPtx shipped;

    @BeforeAll
    static void read() throws Exception {
        cuda = KernelsTree.cudaDir();
        table = ModuleTable.read(cuda);
        shipped = ShippedPtx.get();
    }

    @Test
    void manifestListsExactlyTheTablesModules() {
        assertEquals(
                table.modules(),
                shipped.modules().stream().map(PtxModuleInfo::module).toList(),
                "modules of manifest.json vs modules.tsv" + REBUILD);
    }

    @Test
    void noStrayPtxIsShipped() throws Exception {
        List<String> files;
        try (var s = Files.list(KernelsTree.shippedPtxDir())) {
            files = s.map(p -> p.getFileName().toString())
                    .filter(n -> n.endsWith(".ptx"))
                    .sorted()
                    .toList();
        }
        assertEquals(
                table.modules().stream().map(m -> m + ".ptx").sorted().toList(),
                files,
                "PTX files in " + KernelsTree.shippedPtxDir() + REBUILD);
    }

    @TestFactory
    List<DynamicTest> everyModuleMatchesItsSourcesAndTableLine() {
        List<DynamicTest> tests = new ArrayList<>();
        for (ModuleTable.Row row : table.rows()) {
            tests.add(DynamicTest.dynamicTest(row.module(), () -> check(row)));
        }
        return tests;
    }

    private static void check(ModuleTable.Row row) throws Exception {
        String m = row.module();
        assertTrue(Files.isRegularFile(cuda.resolve(row.source())), m + ": source " + row.source() + " is missing");
        Path committed = KernelsTree.shippedPtxDir().resolve(m + ".ptx");
        assertTrue(Files.isRegularFile(committed), m + ": " + committed + " is missing" + REBUILD);
        PtxModuleInfo info = shipped.module(m);

        List<PtxInput> inputs = SourceInputs.of(row, cuda);
        assertEquals(
                inputs,
                info.inputs(),
                m + ": changed since the PTX was built: " + changed(inputs, info.inputs()) + REBUILD);
        assertEquals(SourceInputs.sourceSha256(inputs), info.sourceSha256(), m + ": source hash" + REBUILD);
        assertEquals(
                info.ptxSha256(),
                ShippedPtx.sha256(Files.readAllBytes(committed)),
                m + ": " + committed + " is not the file the manifest describes" + REBUILD);

        assertEquals(m + ".ptx", info.file());
        assertEquals(row.arch(), info.nvccArch(), m + ": nvcc arch");
        assertEquals(row.version(), info.ptxVersion(), m + ": PTX ISA version");
        assertEquals(row.target(), info.target(), m + ": target");
        assertEquals(row.checkedFor(), info.checkedFor(), m + ": claimed targets");

        String text = shipped.ptxText(m); // checks the classpath copy against ptxSha256 too
        assertEquals(info.ptxVersion(), PtxText.version(text), m + ": .version in the PTX");
        assertEquals(info.target(), PtxText.target(text), m + ": .target in the PTX");
        assertEquals(PtxText.entries(text), info.entries(), m + ": entries of the manifest vs the PTX");
        assertTrue(
                !text.contains(cuda.toAbsolutePath().toString())
                        && !java.util.regex.Pattern.compile("(?m)^\\s*\\.file\\s")
                                .matcher(text)
                                .find(),
                m + ": the PTX names a source path (built with -lineinfo or -G?)");
    }

    /** Names of the inputs added, removed or changed between the manifest and the tree. */
    private static List<String> changed(List<PtxInput> tree, List<PtxInput> manifest) {
        List<String> out = new ArrayList<>();
        for (PtxInput t : tree) {
            if (!manifest.contains(t)) {
                out.add(t.name());
            }
        }
        for (PtxInput m : manifest) {
            if (tree.stream().noneMatch(t -> t.name().equals(m.name()))) {
                out.add(m.name() + " (no longer an input)");
            }
        }
        return out;
    }

    @Test
    void readmeNeedsDriverColumnMatchesTheManifest() throws Exception {
        Map<String, List<String>> readme = ReadmeTable.read(cuda);
        for (PtxModuleInfo info : shipped.modules()) {
            List<String> row = readme.get(info.module());
            assertTrue(row != null, "README.md has no row for " + info.module());
            assertEquals(
                    "CUDA " + KernelSupport.driverString(info.minDriverVersion()),
                    row.get(4),
                    "README.md 'needs driver' of " + info.module() + " vs manifest.json (PTX ISA " + info.ptxVersion()
                            + ")");
        }
    }

    @Test
    void selectorReadsTheShippedManifest() {
        KernelSupport s = KernelSupport.SHIPPED;
        assertEquals("", s.absentReason(), "KernelSupport.SHIPPED could not read the manifest");
        for (PtxModuleInfo info : shipped.modules()) {
            assertEquals(info.minDriverVersion(), s.modules().get(info.module()).minDriverVersion(), info.module());
            assertEquals(info.targetCapability(), s.modules().get(info.module()).target(), info.module());
        }
    }
}

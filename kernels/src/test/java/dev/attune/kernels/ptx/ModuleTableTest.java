package dev.attune.kernels.ptx;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * modules.tsv is the one description of the PTX modules; README.md's table mirrors it column by
 * column (the "needs driver" column is held to the manifest by {@link PtxFreshnessTest}).
 */
class ModuleTableTest {

    @Test
    void readmeTableMirrorsModulesTsv() throws Exception {
        Path cuda = KernelsTree.cudaDir();
        ModuleTable table = ModuleTable.read(cuda);
        Map<String, List<String>> readme = ReadmeTable.read(cuda);
        assertEquals(
                table.modules(), List.copyOf(readme.keySet()), "README.md lists the modules of modules.tsv, in order");
        for (ModuleTable.Row row : table.rows()) {
            List<String> cells = readme.get(row.module());
            String where = "README.md row of " + row.module() + " vs modules.tsv";
            assertEquals(ReadmeTable.plain(row.kernels()), cells.get(1), where + ": kernels");
            assertEquals(row.arch(), cells.get(2), where + ": nvcc arch");
            assertEquals(row.version() + " / " + row.target(), cells.get(3), where + ": shipped .version / .target");
            assertEquals(row.checkedFor(), ReadmeTable.words(cells.get(5)), where + ": checked for");
        }
    }

    @Test
    void tableIsWellFormed() throws Exception {
        ModuleTable table = ModuleTable.read(KernelsTree.cudaDir());
        assertEquals(table.modules().size(), table.modules().stream().distinct().count(), "module names are unique");
        for (ModuleTable.Row row : table.rows()) {
            assertTrue(row.module().matches("[a-z0-9_]+"), "module name " + row.module());
            assertTrue(row.arch().matches("compute_\\d+"), row.module() + ": arch " + row.arch());
            assertTrue(row.version().matches("\\d+\\.\\d+"), row.module() + ": version " + row.version());
            var target = PtxModuleInfo.capabilityOf(row.target());
            for (String t : row.checkedFor()) {
                assertTrue(
                        PtxModuleInfo.capabilityOf(t).atLeast(target),
                        row.module() + " claims " + t + ", older than its .target " + row.target());
            }
        }
        assertTrue(Files.isExecutable(KernelsTree.cudaDir().resolve("build-ptx.sh")), "build-ptx.sh is executable");
    }
}

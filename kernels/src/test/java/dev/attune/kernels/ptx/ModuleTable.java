package dev.attune.kernels.ptx;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/** {@code kernels/src/main/cuda/modules.tsv}, read as {@code build-ptx.sh} reads it. */
record ModuleTable(List<Row> rows) {

    /**
     * One module's line.
     *
     * @param line the line as written, the exact text the module's source hash covers
     */
    record Row(
            String module,
            String source,
            String arch,
            String version,
            String target,
            List<String> checkedFor,
            String kernels,
            String line) {}

    static ModuleTable read(Path cudaDir) throws IOException {
        List<Row> rows = new ArrayList<>();
        for (String line : Files.readAllLines(cudaDir.resolve("modules.tsv"), StandardCharsets.UTF_8)) {
            if (line.isBlank() || line.startsWith("#")) {
                continue;
            }
            String[] c = line.split("\t+");
            if (c.length != 7) {
                throw new IllegalStateException("modules.tsv: expected 7 tab-separated columns: " + line);
            }
            rows.add(new Row(
                    c[0], c[1], c[2], c[3], c[4], Arrays.asList(c[5].trim().split("\\s+")), c[6], line));
        }
        return new ModuleTable(List.copyOf(rows));
    }

    List<String> modules() {
        return rows.stream().map(Row::module).toList();
    }
}

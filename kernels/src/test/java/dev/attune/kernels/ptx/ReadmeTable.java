package dev.attune.kernels.ptx;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** The module table of {@code kernels/src/main/cuda/README.md}: cells of each row, backticks and escapes removed. */
final class ReadmeTable {

    static final List<String> HEADER =
            List.of("module", "kernels", "nvcc arch", "shipped .version / .target", "needs driver", "checked for");

    private ReadmeTable() {}

    /** Rows by module name, in README order. */
    static Map<String, List<String>> read(Path cudaDir) throws IOException {
        List<String> lines = Files.readAllLines(cudaDir.resolve("README.md"), StandardCharsets.UTF_8);
        int header = -1;
        for (int i = 0; i < lines.size(); i++) {
            if (lines.get(i).startsWith("| module |")) {
                header = i;
                break;
            }
        }
        if (header < 0) {
            throw new IllegalStateException("README.md has no module table (a line starting with '| module |')");
        }
        List<String> headerCells = cells(lines.get(header));
        if (!headerCells.equals(HEADER)) {
            throw new IllegalStateException(
                    "README.md module table columns are " + headerCells + ", expected " + HEADER);
        }
        Map<String, List<String>> rows = new LinkedHashMap<>();
        for (int i = header + 2; i < lines.size() && lines.get(i).startsWith("|"); i++) {
            List<String> c = cells(lines.get(i));
            rows.put(c.get(0), c);
        }
        return rows;
    }

    static List<String> cells(String row) {
        String inner = row.strip();
        inner = inner.substring(1, inner.length() - 1);
        List<String> out = new ArrayList<>();
        for (String cell : inner.split("(?<!\\\\)\\|", -1)) {
            out.add(plain(cell));
        }
        return out;
    }

    /** Text without markdown backticks and escapes, spaces collapsed. */
    static String plain(String s) {
        return s.replace("`", "").replace("\\|", "|").strip().replaceAll("\\s+", " ");
    }

    static List<String> words(String s) {
        return Arrays.asList(plain(s).split(" "));
    }
}

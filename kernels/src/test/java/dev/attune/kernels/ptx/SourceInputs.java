package dev.attune.kernels.ptx;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The inputs of one module's PTX recomputed from the source tree, in the order and form
 * {@code build-ptx.sh} records them: the table line, the build script, the source, then every
 * local header it includes directly or indirectly (quoted includes that are files here), sorted.
 */
final class SourceInputs {

    private static final Pattern LOCAL_INCLUDE =
            Pattern.compile("^\\s*#\\s*include\\s*\"([^\"]+)\"", Pattern.MULTILINE);

    private SourceInputs() {}

    static List<PtxInput> of(ModuleTable.Row row, Path cudaDir) throws IOException {
        List<PtxInput> inputs = new ArrayList<>();
        inputs.add(new PtxInput("modules.tsv:" + row.module(), sha256(row.line().getBytes(StandardCharsets.UTF_8))));
        inputs.add(file(cudaDir, "build-ptx.sh"));
        inputs.add(file(cudaDir, row.source()));
        for (String header : localHeaders(cudaDir, row.source())) {
            inputs.add(file(cudaDir, header));
        }
        return inputs;
    }

    /** SHA-256 over the inputs' {@code sha256sum} lines: the manifest's {@code sourceSha256}. */
    static String sourceSha256(List<PtxInput> inputs) {
        StringBuilder sb = new StringBuilder();
        inputs.forEach(i -> sb.append(i.sha256sumLine()));
        return sha256(sb.toString().getBytes(StandardCharsets.UTF_8));
    }

    static TreeSet<String> localHeaders(Path cudaDir, String source) throws IOException {
        TreeSet<String> seen = new TreeSet<>();
        Deque<String> queue = new ArrayDeque<>(List.of(source));
        while (!queue.isEmpty()) {
            String file = queue.removeFirst();
            Path parent = Path.of(file).getParent();
            Matcher m = LOCAL_INCLUDE.matcher(Files.readString(cudaDir.resolve(file), StandardCharsets.UTF_8));
            while (m.find()) {
                String rel =
                        parent == null ? m.group(1) : parent.resolve(m.group(1)).toString();
                if (Files.isRegularFile(cudaDir.resolve(rel)) && seen.add(rel)) {
                    queue.addLast(rel);
                }
            }
        }
        return seen;
    }

    private static PtxInput file(Path cudaDir, String name) throws IOException {
        return new PtxInput(name, sha256(Files.readAllBytes(cudaDir.resolve(name))));
    }

    private static String sha256(byte[] bytes) {
        return ShippedPtx.sha256(bytes);
    }
}

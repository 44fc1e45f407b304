package dev.attune.testing;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.attune.model.safetensors.SafetensorsWriter;
import dev.attune.model.safetensors.WeightStore;
import dev.attune.model.tokenizer.TextTokenizer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Arrays;
import java.util.Collection;
import java.util.List;
import java.util.TreeSet;
import java.util.function.Consumer;
import java.util.stream.Stream;

/**
 * Altered copies of a model directory for tests that need a model to misbehave in a known way.
 *
 * <ul>
 *   <li>{@link #smallVocabulary}: the word-embedding table keeps only its first {@code n} rows
 *   ({@code vocab_size = n}) while tokenizer.json keeps the full vocabulary, so a text with a token
 *   id at or above {@code n} cannot be scored ("token id ... is outside the vocabulary"): a genuine
 *   row-level error that survives Spark's UTF-8 string storage (unlike an unpaired surrogate, which
 *   Spark replaces with '?' before Attune sees it). Texts whose tokens all lie below {@code n} embed
 *   exactly as with the original model.</li>
 *   <li>{@link #scaled}: one tensor multiplied by a factor, e.g. a LayerNorm weight large enough to
 *   overflow fp16.</li>
 *   <li>{@link #overflowing}: finite weights whose forward pass overflows to NaN.</li>
 * </ul>
 */
public final class ModelCopies {

    private ModelCopies() {}

    /** A tensor rewrite: gets the name, shape and values; returns the new values (and may change the shape in place). */
    @FunctionalInterface
    public interface TensorEdit {
        float[] apply(String name, long[][] shape, float[] values);
    }

    /** Copies {@code src} into {@code dst}, editing config.json and the tensors of model.safetensors. */
    public static Path copy(Path src, Path dst, Consumer<ObjectNode> config, TensorEdit edit) throws IOException {
        try (Stream<Path> s = Files.walk(src)) {
            for (Path p : s.toList()) {
                Path q = dst.resolve(src.relativize(p).toString());
                if (Files.isDirectory(p)) {
                    Files.createDirectories(q);
                } else if (!p.getFileName().toString().equals(WeightStore.SINGLE_FILE)) {
                    Files.copy(p, q, StandardCopyOption.REPLACE_EXISTING);
                }
            }
        }
        ObjectMapper json = new ObjectMapper();
        ObjectNode cfg = (ObjectNode) json.readTree(src.resolve("config.json").toFile());
        config.accept(cfg);
        Files.writeString(
                dst.resolve("config.json"),
                json.writerWithDefaultPrettyPrinter().writeValueAsString(cfg));

        WeightStore store = WeightStore.open(src);
        SafetensorsWriter w = new SafetensorsWriter();
        for (String name : new TreeSet<>(store.names())) {
            long[][] shape = {store.info(name).shape()};
            float[] data = edit.apply(name, shape, store.floats(name));
            w.add(name, shape[0], data);
        }
        w.write(dst.resolve(WeightStore.SINGLE_FILE));
        return dst;
    }

    /** A copy of {@code src} whose vocabulary is cut to its first {@code n} word embeddings. */
    public static Path smallVocabulary(Path src, Path dst, int n) throws IOException {
        return copy(src, dst, c -> c.put("vocab_size", n), (name, shape, data) -> {
            if (!name.endsWith("embeddings.word_embeddings.weight")) {
                return data;
            }
            long width = shape[0][1];
            shape[0] = new long[] {n, width};
            return Arrays.copyOf(data, (int) (n * width));
        });
    }

    /** A copy of {@code src} with every tensor whose name ends with {@code suffix} multiplied by {@code factor}. */
    public static Path scaled(Path src, Path dst, String suffix, float factor) throws IOException {
        return copy(src, dst, c -> {}, (name, shape, data) -> {
            if (!name.endsWith(suffix)) {
                return data;
            }
            float[] out = data.clone();
            for (int i = 0; i < out.length; i++) {
                out[i] *= factor;
            }
            return out;
        });
    }

    /**
     * A copy of {@code src} (a BERT model) whose first layer's feed-forward weights are multiplied
     * by 1e36: every weight stays finite, but the forward pass overflows to infinity and NaN.
     */
    public static Path overflowing(Path src, Path dst) throws IOException {
        return copy(src, dst, c -> {}, (name, shape, data) -> {
            if (!name.endsWith("layer.0.intermediate.dense.weight") && !name.endsWith("layer.0.output.dense.weight")) {
                return data;
            }
            float[] out = data.clone();
            for (int i = 0; i < out.length; i++) {
                out[i] *= 1e36f;
            }
            return out;
        });
    }

    /** The largest token id of any of {@code texts} with the tokenizer of {@code dir}. */
    public static int maxTokenId(Path dir, Collection<String> texts) {
        try (TextTokenizer t = TextTokenizer.load(dir, 512)) {
            return texts.stream()
                    .mapToInt(x -> Arrays.stream(t.encode(x).ids()).max().orElse(0))
                    .max()
                    .orElse(0);
        }
    }

    /** {@link #maxTokenId(Path, Collection)} of one text. */
    public static int maxTokenId(Path dir, String text) {
        return maxTokenId(dir, List.of(text));
    }
}

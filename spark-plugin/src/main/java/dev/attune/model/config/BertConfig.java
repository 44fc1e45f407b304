package dev.attune.model.config;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.attune.model.JsonFiles;
import dev.attune.model.ModelFormatException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * The architecture of a BERT-family encoder, from a Hugging Face {@code config.json}.
 *
 * <p>BERT, RoBERTa and XLM-RoBERTa (whose position ids start after the padding id), MiniLM, BGE
 * and E5 all share this shape. Only absolute position embeddings and the erf GELU are supported;
 * anything else is refused at load time with the key and value at fault.
 *
 * @param modelType            {@code model_type}: bert, roberta, xlm-roberta
 * @param hiddenSize           width of the residual stream
 * @param layers               number of encoder layers
 * @param heads                attention heads per layer
 * @param intermediateSize     width of the feed-forward layer
 * @param maxPositions         number of position embeddings
 * @param typeVocabSize        number of token-type embeddings
 * @param vocabSize            number of word embeddings
 * @param layerNormEps         epsilon of every LayerNorm
 * @param padTokenId           id of the padding token
 * @param storedDtype          {@code torch_dtype} as written, for the precision policy
 * @param id2label             class labels of a sequence-classification checkpoint, else empty
 */
public record BertConfig(
        String modelType,
        int hiddenSize,
        int layers,
        int heads,
        int intermediateSize,
        int maxPositions,
        int typeVocabSize,
        int vocabSize,
        double layerNormEps,
        int padTokenId,
        String storedDtype,
        Map<Integer, String> id2label) {

    public static final String FILE = "config.json";
    private static final Set<String> TYPES = Set.of("bert", "roberta", "xlm-roberta", "camembert");
    private static final Set<String> GELU = Set.of("gelu", "gelu_python");

    public BertConfig {
        id2label = Map.copyOf(id2label);
        if (hiddenSize % heads != 0) {
            throw new ModelFormatException(
                    "config.json: hidden_size " + hiddenSize + " is not a multiple of num_attention_heads " + heads);
        }
    }

    public int headDim() {
        return hiddenSize / heads;
    }

    /** First position id: RoBERTa-style models skip {@code padTokenId + 1} positions. */
    public int positionOffset() {
        return modelType.equals("bert") ? 0 : padTokenId + 1;
    }

    /** The longest input the position table allows, special tokens included. */
    public int maxInputTokens() {
        return maxPositions - positionOffset();
    }

    public static BertConfig read(Path dir) {
        Path f = dir.resolve(FILE);
        JsonNode root = JsonFiles.readObject(f);
        String type = text(root, "model_type", "bert");
        if (!TYPES.contains(type)) {
            throw new ModelFormatException(f + ": model_type '" + type + "' is not a BERT-family encoder (supported: "
                    + new java.util.TreeSet<>(TYPES) + ")");
        }
        String act = text(root, "hidden_act", "gelu");
        if (!GELU.contains(act)) {
            throw new ModelFormatException(f + ": hidden_act '" + act + "' is not supported (gelu with erf is)");
        }
        String pos = text(root, "position_embedding_type", "absolute");
        if (!pos.equals("absolute")) {
            throw new ModelFormatException(
                    f + ": position_embedding_type '" + pos + "' is not supported (absolute is)");
        }
        Map<Integer, String> labels = new TreeMap<>();
        JsonNode id2label = root.get("id2label");
        if (id2label != null && id2label.isObject()) {
            for (Iterator<Map.Entry<String, JsonNode>> it = id2label.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                try {
                    labels.put(Integer.parseInt(e.getKey()), e.getValue().asText());
                } catch (NumberFormatException ex) {
                    throw new ModelFormatException(f + ": id2label key '" + e.getKey() + "' is not an integer");
                }
            }
        }
        int hidden = positive(f, root, "hidden_size");
        int heads = positive(f, root, "num_attention_heads");
        if (hidden % heads != 0) {
            throw new ModelFormatException(
                    f + ": hidden_size " + hidden + " is not a multiple of num_attention_heads " + heads);
        }
        return new BertConfig(
                type,
                hidden,
                positive(f, root, "num_hidden_layers"),
                heads,
                positive(f, root, "intermediate_size"),
                positive(f, root, "max_position_embeddings"),
                intOr(f, root, "type_vocab_size", 2),
                positive(f, root, "vocab_size"),
                root.path("layer_norm_eps").asDouble(1e-12),
                intOr(f, root, "pad_token_id", 0),
                text(root, "torch_dtype", "float32"),
                labels);
    }

    /** The config.json a Hugging Face BertModel with these settings would carry. */
    public ObjectNode toJson() {
        ObjectNode n = new ObjectMapper().createObjectNode();
        String arch = id2label.isEmpty() ? "BertModel" : "BertForSequenceClassification";
        n.putArray("architectures").add(modelType.equals("bert") ? arch : arch.replace("Bert", "Roberta"));
        n.put("model_type", modelType);
        n.put("hidden_size", hiddenSize);
        n.put("num_hidden_layers", layers);
        n.put("num_attention_heads", heads);
        n.put("intermediate_size", intermediateSize);
        n.put("max_position_embeddings", maxPositions);
        n.put("type_vocab_size", typeVocabSize);
        n.put("vocab_size", vocabSize);
        n.put("layer_norm_eps", layerNormEps);
        n.put("pad_token_id", padTokenId);
        n.put("hidden_act", "gelu");
        n.put("position_embedding_type", "absolute");
        n.put("torch_dtype", storedDtype);
        if (!id2label.isEmpty()) {
            ObjectNode i2l = n.putObject("id2label");
            ObjectNode l2i = n.putObject("label2id");
            id2label.forEach((k, v) -> {
                i2l.put(String.valueOf(k), v);
                l2i.put(v, k);
            });
        }
        return n;
    }

    public void write(Path dir) throws IOException {
        Files.writeString(
                dir.resolve(FILE),
                new ObjectMapper().writerWithDefaultPrettyPrinter().writeValueAsString(toJson()));
    }

    /** The labels in id order, for a classifier. */
    public List<String> labels() {
        return List.copyOf(new LinkedHashMap<>(new TreeMap<>(id2label)).values());
    }

    private static String text(JsonNode root, String key, String dflt) {
        JsonNode n = root.get(key);
        return n == null || n.isNull() ? dflt : n.asText();
    }

    private static int positive(Path f, JsonNode root, String key) {
        JsonNode n = root.get(key);
        if (n == null || !n.isIntegralNumber() || !n.canConvertToInt() || n.asInt() <= 0) {
            throw new ModelFormatException(f + ": '" + key + "' must be a positive integer, got " + n);
        }
        return n.asInt();
    }

    private static int intOr(Path f, JsonNode root, String key, int dflt) {
        JsonNode n = root.get(key);
        if (n == null || n.isNull()) {
            return dflt;
        }
        if (!n.isIntegralNumber() || !n.canConvertToInt() || n.asInt() < 0) {
            throw new ModelFormatException(f + ": '" + key + "' must be a non-negative integer, got " + n);
        }
        return n.asInt();
    }
}

package dev.attune.model.config;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.attune.model.ModelFormatException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * How a model directory turns token vectors into a sentence vector, from the
 * sentence-transformers files when present: {@code modules.json} (is there a Normalize module?),
 * {@code <pooling dir>/config.json} (which pooling mode) and {@code sentence_bert_config.json}
 * (the maximum sequence length).
 *
 * <p>Defaults without those files are what sentence-transformers itself uses for a plain
 * Hugging Face encoder: mean pooling, not normalized, and the tokenizer's or the position
 * table's maximum length.
 *
 * @param pooling       pooling mode
 * @param normalize     whether the vector is L2-normalized
 * @param maxSeqLength  maximum tokens per input including special tokens, or 0 when unstated
 */
public record SentenceConfig(Pooling pooling, boolean normalize, int maxSeqLength) {

    public static final String MODULES = "modules.json";
    public static final String SBERT = "sentence_bert_config.json";

    public static SentenceConfig read(Path dir) {
        ObjectMapper json = new ObjectMapper();
        Pooling pooling = Pooling.MEAN;
        boolean normalize = false;
        int maxLen = 0;
        Path modules = dir.resolve(MODULES);
        if (Files.isRegularFile(modules)) {
            JsonNode mods = readJson(json, modules);
            if (!mods.isArray()) {
                throw new ModelFormatException(modules + ": must be a JSON array of modules");
            }
            for (JsonNode m : mods) {
                String type = m.path("type").asText("");
                if (type.endsWith(".Normalize")) {
                    normalize = true;
                } else if (type.endsWith(".Pooling")) {
                    String sub = m.path("path").asText("");
                    Path cfgDir = sub.isEmpty() ? dir : inside(modules, dir, sub);
                    pooling = readPooling(json, cfgDir.resolve("config.json"));
                }
            }
        }
        Path sbert = dir.resolve(SBERT);
        if (Files.isRegularFile(sbert)) {
            JsonNode s = readJson(json, sbert);
            JsonNode m = s.get("max_seq_length");
            if (m != null && !m.isNull()) {
                if (!m.canConvertToInt() || m.asInt() <= 0) {
                    throw new ModelFormatException(sbert + ": max_seq_length must be a positive integer, got " + m);
                }
                maxLen = m.asInt();
            }
        }
        return new SentenceConfig(pooling, normalize, maxLen);
    }

    private static Pooling readPooling(ObjectMapper json, Path f) {
        if (!Files.isRegularFile(f)) {
            throw new ModelFormatException(f + ": modules.json names a Pooling module but its config.json is missing");
        }
        JsonNode p = readJson(json, f);
        int modes = 0;
        Pooling chosen = Pooling.MEAN;
        if (p.path("pooling_mode_cls_token").asBoolean(false)) {
            chosen = Pooling.CLS;
            modes++;
        }
        if (p.path("pooling_mode_mean_tokens").asBoolean(false)) {
            chosen = Pooling.MEAN;
            modes++;
        }
        if (p.path("pooling_mode_max_tokens").asBoolean(false)) {
            chosen = Pooling.MAX;
            modes++;
        }
        for (String unsupported : new String[] {
            "pooling_mode_mean_sqrt_len_tokens", "pooling_mode_weightedmean_tokens", "pooling_mode_lasttoken"
        }) {
            if (p.path(unsupported).asBoolean(false)) {
                throw new ModelFormatException(f + ": " + unsupported + " is not supported (cls, mean and max are)");
            }
        }
        if (modes > 1) {
            throw new ModelFormatException(f + ": more than one pooling mode is enabled; Attune supports exactly one");
        }
        return chosen;
    }

    private static Path inside(Path source, Path dir, String sub) {
        Path base = dir.toAbsolutePath().normalize();
        Path p = base.resolve(sub).normalize();
        if (!p.startsWith(base) || sub.contains("\\")) {
            throw new ModelFormatException(source + ": module path '" + sub + "' leaves the model directory");
        }
        return p;
    }

    private static JsonNode readJson(ObjectMapper json, Path f) {
        try {
            JsonNode n = json.readTree(f.toFile());
            if (n == null) {
                throw new ModelFormatException(f + ": empty file");
            }
            return n;
        } catch (IOException e) {
            throw new ModelFormatException(f + ": not valid JSON: " + e.getMessage(), e);
        }
    }

    /** Writes the sentence-transformers files that describe this configuration. */
    public void write(Path dir, int dimension) throws IOException {
        ObjectMapper json = new ObjectMapper();
        ArrayNode mods = json.createArrayNode();
        mods.addObject()
                .put("idx", 0)
                .put("name", "0")
                .put("path", "")
                .put("type", "sentence_transformers.models.Transformer");
        mods.addObject()
                .put("idx", 1)
                .put("name", "1")
                .put("path", "1_Pooling")
                .put("type", "sentence_transformers.models.Pooling");
        if (normalize) {
            mods.addObject()
                    .put("idx", 2)
                    .put("name", "2")
                    .put("path", "2_Normalize")
                    .put("type", "sentence_transformers.models.Normalize");
        }
        Files.writeString(
                dir.resolve(MODULES), json.writerWithDefaultPrettyPrinter().writeValueAsString(mods));
        Files.createDirectories(dir.resolve("1_Pooling"));
        ObjectNode p = json.createObjectNode();
        p.put("word_embedding_dimension", dimension);
        p.put("pooling_mode_cls_token", pooling == Pooling.CLS);
        p.put("pooling_mode_mean_tokens", pooling == Pooling.MEAN);
        p.put("pooling_mode_max_tokens", pooling == Pooling.MAX);
        p.put("pooling_mode_mean_sqrt_len_tokens", false);
        Files.writeString(
                dir.resolve("1_Pooling/config.json"),
                json.writerWithDefaultPrettyPrinter().writeValueAsString(p));
        if (maxSeqLength > 0) {
            ObjectNode s = json.createObjectNode();
            s.put("max_seq_length", maxSeqLength);
            s.put("do_lower_case", false);
            Files.writeString(
                    dir.resolve(SBERT), json.writerWithDefaultPrettyPrinter().writeValueAsString(s));
        }
    }
}

package dev.attune.model;

import dev.attune.model.config.BertConfig;
import dev.attune.model.config.SentenceConfig;
import dev.attune.model.llama.DecoderConfig;
import dev.attune.model.prompt.ChatTemplate;
import dev.attune.model.safetensors.WeightStore;
import dev.attune.model.tokenizer.TextTokenizer;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Checks a model directory without loading its weights, so a driver can refuse a missing or
 * broken model before any executor starts: the directory, {@code config.json} and its family, the
 * typed configuration, the tokenizer (parsed), the chat template of a decoder (parsed), and every
 * safetensors header (tensor names, dtypes, shapes and offsets against the file sizes). What it does
 * not read is the tensor data: a tensor of the wrong shape or holding NaN is found where the model
 * loads, on the executors.
 *
 * <p>Stateless and thread-safe; each failure is a {@link ModelFormatException} naming the file.
 */
public final class ModelCheck {

    /** What was checked: the family, and a line for logs ({@code llama, 22 layers, hidden 2048}). */
    public record Result(ModelFamily family, String description) {}

    private ModelCheck() {}

    public static Result check(Path dir) {
        if (!Files.isDirectory(dir)) {
            throw new ModelFormatException(dir + ": model directory does not exist");
        }
        ModelFamily family = ModelFamily.of(dir);
        String description;
        if (family == ModelFamily.DECODER) {
            DecoderConfig c = DecoderConfig.read(dir);
            ChatTemplate.load(dir);
            TextTokenizer.loadUntruncated(dir).close();
            description = c.modelType() + ", " + c.layers() + " layers, hidden " + c.hiddenSize();
        } else {
            BertConfig c = BertConfig.read(dir);
            SentenceConfig sentence = SentenceConfig.read(dir);
            TextTokenizer.load(dir, EncoderModel.maxLength(dir, c, sentence)).close();
            description = "encoder, " + c.layers() + " layers, hidden " + c.hiddenSize();
        }
        WeightStore.open(dir);
        return new Result(family, description);
    }
}

package dev.attune.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.attune.kernels.memory.EncoderShape;
import dev.attune.kernels.select.ComputeDtype;
import dev.attune.model.bert.BertEncoder;
import dev.attune.model.bert.BertWeights;
import dev.attune.model.config.BertConfig;
import dev.attune.model.config.SentenceConfig;
import dev.attune.model.safetensors.WeightStore;
import dev.attune.model.tokenizer.TextTokenizer;
import dev.attune.model.tokenizer.TokenizedText;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * A BERT-family sentence-embedding model loaded from a Hugging Face model directory: config,
 * weights, tokenizer and pooling, ready to embed text.
 *
 * <p>Lifecycle: {@link #load} reads and validates everything up front, so a bad model fails
 * before any row is scored. The model is immutable and meant to be loaded once per JVM and shared
 * by every task thread; {@link #close} releases the native tokenizer.
 *
 * <p>Inputs: a null text gives a null vector. An empty or whitespace-only text is embedded as the
 * empty string ({@code [CLS] [SEP]}), a real vector. Longer texts are truncated from the right to
 * {@link #maxLength()} tokens, special tokens included.
 */
public final class EncoderModel implements AutoCloseable {

    private final Path directory;
    private final BertConfig config;
    private final SentenceConfig sentence;
    private final TextTokenizer tokenizer;
    private final BertEncoder encoder;
    private final ComputeDtype storedDtype;

    private EncoderModel(
            Path directory,
            BertConfig config,
            SentenceConfig sentence,
            TextTokenizer tokenizer,
            BertEncoder encoder,
            ComputeDtype storedDtype) {
        this.directory = directory;
        this.config = config;
        this.sentence = sentence;
        this.tokenizer = tokenizer;
        this.encoder = encoder;
        this.storedDtype = storedDtype;
    }

    public static EncoderModel load(Path dir) {
        if (!Files.isDirectory(dir)) {
            throw new ModelFormatException(dir + ": model directory does not exist");
        }
        BertConfig config = BertConfig.read(dir);
        SentenceConfig sentence = SentenceConfig.read(dir);
        WeightStore store = WeightStore.open(dir);
        BertWeights weights = BertWeights.load(store, config);
        ComputeDtype stored = store.storedDtype().computeDtype();
        int maxLen = maxLength(dir, config, sentence);
        TextTokenizer tokenizer = TextTokenizer.load(dir, maxLen);
        return new EncoderModel(dir, config, sentence, tokenizer, new BertEncoder(config, weights), stored);
    }

    /**
     * The truncation length: sentence-transformers' {@code max_seq_length}, else
     * {@code tokenizer_config.json}'s {@code model_max_length}, else the tokenizer's own
     * truncation length, else the position table; never more than the position table allows.
     */
    public static int maxLength(Path dir, BertConfig config, SentenceConfig sentence) {
        int cap = config.maxInputTokens();
        if (sentence.maxSeqLength() > 0) {
            return Math.min(cap, sentence.maxSeqLength());
        }
        ObjectMapper json = new ObjectMapper();
        try {
            Path tc = dir.resolve("tokenizer_config.json");
            if (Files.isRegularFile(tc)) {
                JsonNode n = json.readTree(tc.toFile()).path("model_max_length");
                if (n.canConvertToInt() && n.asInt() > 1) {
                    return Math.min(cap, n.asInt());
                }
            }
            JsonNode trunc = json.readTree(dir.resolve(TextTokenizer.FILE).toFile())
                    .path("truncation")
                    .path("max_length");
            if (trunc.canConvertToInt() && trunc.asInt() > 1) {
                return Math.min(cap, trunc.asInt());
            }
        } catch (IOException e) {
            throw new ModelFormatException(dir + ": cannot read tokenizer settings: " + e.getMessage(), e);
        }
        return cap;
    }

    public Path directory() {
        return directory;
    }

    public BertConfig config() {
        return config;
    }

    public SentenceConfig sentence() {
        return sentence;
    }

    public TextTokenizer tokenizer() {
        return tokenizer;
    }

    public BertEncoder encoder() {
        return encoder;
    }

    /** How the weights are stored in the files, for the precision policy. */
    public ComputeDtype storedDtype() {
        return storedDtype;
    }

    /** The encoder's shape for memory planning. */
    public EncoderShape shape() {
        return new EncoderShape(
                config.layers(),
                config.hiddenSize(),
                config.heads(),
                config.intermediateSize(),
                encoder.weights().parameters());
    }

    /** Whether the checkpoint has a sequence-classification head (pooler + classifier). */
    public boolean hasClassifier() {
        return encoder.weights().classifier() != null && encoder.weights().pooler() != null;
    }

    /** Throws, naming the model directory, when the checkpoint has no sequence-classification head. */
    public void requireClassifier() {
        if (!hasClassifier()) {
            throw new ModelFormatException(
                    directory + ": the model has no sequence-classification head (pooler.dense and "
                            + "classifier weights, as BertForSequenceClassification saves them)");
        }
    }

    /** The class labels, in id order ({@code id2label}, else LABEL_0, LABEL_1, ...). */
    public List<String> labels() {
        int n = encoder.weights().classifierBias() == null
                ? 0
                : encoder.weights().classifierBias().length;
        List<String> l = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            l.add(config.id2label().getOrDefault(i, "LABEL_" + i));
        }
        return l;
    }

    /**
     * Tokenizes texts (null stays null), truncating to {@code maxLength} tokens when that is
     * shorter than the model's own maximum; the last token (the closing special token) is kept.
     */
    public List<TokenizedText> tokenizeAll(List<String> texts, int maxLength) {
        List<TokenizedText> tokens = new ArrayList<>(texts.size());
        for (String t : texts) {
            TokenizedText e = t == null ? null : tokenizer.encode(t);
            if (e != null && maxLength > 1 && e.length() > maxLength) {
                int[] ids = java.util.Arrays.copyOf(e.ids(), maxLength);
                int[] types = java.util.Arrays.copyOf(e.typeIds(), maxLength);
                ids[maxLength - 1] = e.ids()[e.length() - 1];
                types[maxLength - 1] = e.typeIds()[e.length() - 1];
                e = new TokenizedText(ids, types, true);
            }
            tokens.add(e);
        }
        return tokens;
    }

    public int maxLength() {
        return tokenizer.maxLength();
    }

    public int dimension() {
        return config.hiddenSize();
    }

    @Override
    public void close() {
        tokenizer.close();
    }
}

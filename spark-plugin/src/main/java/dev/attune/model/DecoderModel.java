package dev.attune.model;

import dev.attune.kernels.memory.DecoderShape;
import dev.attune.kernels.select.ComputeDtype;
import dev.attune.model.llama.DecoderConfig;
import dev.attune.model.llama.DecoderWeights;
import dev.attune.model.llama.LlamaGraph;
import dev.attune.model.prompt.ChatMessage;
import dev.attune.model.prompt.ChatTemplate;
import dev.attune.model.safetensors.WeightStore;
import dev.attune.model.tokenizer.TextTokenizer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

/**
 * A Llama-family decoder loaded from a Hugging Face model directory: its config, its weights as
 * one graph ({@link LlamaGraph}), and its tokenizer.
 *
 * <p>Lifecycle: {@link #load} reads and checks everything up front (config keys, every tensor's
 * name and shape, the tokenizer, that the vocabulary fits the embedding table), so a bad
 * checkpoint fails before any row is scored. Immutable and shared by every task thread of an
 * executor; {@link #close} releases the native tokenizer.
 */
public final class DecoderModel implements AutoCloseable {

    private final Path directory;
    private final DecoderConfig config;
    private final LlamaGraph graph;
    private final TextTokenizer tokenizer;
    private final ComputeDtype storedDtype;
    private final Optional<ChatTemplate> chatTemplate;

    private DecoderModel(
            Path directory,
            DecoderConfig config,
            LlamaGraph graph,
            TextTokenizer tokenizer,
            ComputeDtype storedDtype,
            Optional<ChatTemplate> chatTemplate) {
        this.directory = directory;
        this.config = config;
        this.graph = graph;
        this.tokenizer = tokenizer;
        this.storedDtype = storedDtype;
        this.chatTemplate = chatTemplate;
    }

    public static DecoderModel load(Path dir) {
        if (!Files.isDirectory(dir)) {
            throw new ModelFormatException(dir + ": model directory does not exist");
        }
        DecoderConfig config = DecoderConfig.read(dir);
        Optional<ChatTemplate> chat = ChatTemplate.load(dir);
        TextTokenizer tokenizer = TextTokenizer.loadUntruncated(dir);
        try {
            WeightStore store = WeightStore.open(dir);
            DecoderWeights weights = DecoderWeights.load(store, config);
            return new DecoderModel(
                    dir,
                    config,
                    new LlamaGraph(config, weights),
                    tokenizer,
                    store.storedDtype().computeDtype(),
                    chat);
        } catch (RuntimeException e) {
            tokenizer.close();
            throw e;
        }
    }

    public Path directory() {
        return directory;
    }

    public DecoderConfig config() {
        return config;
    }

    public LlamaGraph graph() {
        return graph;
    }

    public TextTokenizer tokenizer() {
        return tokenizer;
    }

    /** How the weights are stored in the files, for the precision policy. */
    public ComputeDtype storedDtype() {
        return storedDtype;
    }

    /** The decoder's sizes for memory planning. */
    public DecoderShape shape() {
        return new DecoderShape(
                config.layers(),
                config.hiddenSize(),
                config.heads(),
                config.kvHeads(),
                config.headDim(),
                config.intermediateSize(),
                config.vocabSize(),
                graph.weights().parameters());
    }

    /** The chat template of tokenizer_config.json (or chat_template.jinja), when the model has one. */
    public Optional<ChatTemplate> chatTemplate() {
        return chatTemplate;
    }

    /**
     * A chat rendered as the model's template renders it, with the assistant's turn opened
     * ({@code add_generation_prompt}), ready to be a prompt; a model without a template is a
     * {@link ModelFormatException} naming the model directory.
     */
    public String chatPrompt(List<ChatMessage> messages) {
        return chatTemplate
                .orElseThrow(() -> new ModelFormatException(directory + ": the model has no chat template "
                        + "(chat_template in tokenizer_config.json), so rows cannot carry chat messages"))
                .render(messages, true);
    }

    /**
     * The token ids of {@code text} as the model's tokenizer gives them, special tokens
     * included; every id is checked against the embedding table.
     */
    public int[] tokenize(String text) {
        int[] ids = tokenizer.encode(text).ids();
        for (int id : ids) {
            if (id >= config.vocabSize()) {
                throw new ModelFormatException(directory + ": the tokenizer gives id " + id + ", outside the model's "
                        + "vocabulary of " + config.vocabSize() + " (vocab_size in config.json)");
            }
        }
        return ids;
    }

    @Override
    public void close() {
        tokenizer.close();
    }
}

package dev.attune.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.attune.kernels.attention.AttentionKernel;
import dev.attune.kernels.cpu.CpuThreads;
import dev.attune.kernels.memory.EncoderShape;
import dev.attune.kernels.select.ComputeDtype;
import dev.attune.model.bert.BertEncoder;
import dev.attune.model.bert.BertWeights;
import dev.attune.model.bert.SentencePooler;
import dev.attune.model.bert.SequenceClassifierHead;
import dev.attune.model.bert.TokenBatch;
import dev.attune.model.config.BertConfig;
import dev.attune.model.config.SentenceConfig;
import dev.attune.model.safetensors.WeightStore;
import dev.attune.model.tokenizer.TextTokenizer;
import dev.attune.model.tokenizer.TokenizedText;
import dev.attune.runtime.BatchOutcome;
import dev.attune.runtime.BatchRunner;
import dev.attune.runtime.LengthBucketedBatcher;

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

    private EncoderModel(Path directory, BertConfig config, SentenceConfig sentence, TextTokenizer tokenizer,
                         BertEncoder encoder, ComputeDtype storedDtype) {
        this.directory = directory;
        this.config = config;
        this.sentence = sentence;
        this.tokenizer = tokenizer;
        this.encoder = encoder;
        this.storedDtype = storedDtype;
    }

    /** One embedded text: its vector (null for a null text) and the path and device that made it. */
    public record Embedding(float[] vector, String path, String dtype) {
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
            JsonNode trunc = json.readTree(dir.resolve(TextTokenizer.FILE).toFile()).path("truncation").path("max_length");
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
        return new EncoderShape(config.layers(), config.hiddenSize(), config.heads(), config.intermediateSize(),
                encoder.weights().parameters());
    }

    /**
     * Embeds texts on a device: each length-grouped batch gets the path the device's selector
     * picks for its shape. Results are in input order; a null text gives a null vector and no path.
     */
    public Embedding[] embed(List<String> texts, int batchSize, int maxTokens, BatchRunner runner, CpuThreads threads) {
        return embed(texts, 0, batchSize, maxTokens, runner, threads);
    }

    /** Told about every batch a device ran, for metrics. */
    @FunctionalInterface
    public interface BatchListener {
        BatchListener NONE = (rows, tokens, path, nanos, precisionFallback) -> { };

        /**
         * A batch of {@code rows} texts, {@code tokens} tokens in all, ran on {@code path} in
         * {@code nanos}; {@code precisionFallback}: it overflowed fp16 and was re-run in fp32.
         */
        void batch(int rows, int tokens, String path, long nanos, boolean precisionFallback);
    }

    /** As {@link #embed(List, int, int, BatchRunner, CpuThreads)}, truncating to {@code maxLength} tokens (0: the model's). */
    public Embedding[] embed(List<String> texts, int maxLength, int batchSize, int maxTokens, BatchRunner runner,
                             CpuThreads threads) {
        return embed(texts, maxLength, batchSize, maxTokens, runner, threads, BatchListener.NONE);
    }

    /** As {@link #embed(List, int, int, int, BatchRunner, CpuThreads)}, telling {@code listener} about each batch. */
    public Embedding[] embed(List<String> texts, int maxLength, int batchSize, int maxTokens, BatchRunner runner,
                             CpuThreads threads, BatchListener listener) {
        List<TokenizedText> tokens = tokenizeAll(texts, maxLength);
        Embedding[] out = new Embedding[texts.size()];
        forEachBatch(tokens, batchSize, maxTokens, (rows, packed) -> {
            long t0 = System.nanoTime();
            BatchOutcome o = runner.run(this, packed, threads);
            float[][] vectors = SentencePooler.pool(o.hidden(), config.hiddenSize(), packed.cuSeqlens(), sentence);
            for (int r = 0; r < rows.length; r++) {
                out[rows[r]] = new Embedding(vectors[r], o.choiceOf(r).path().id(), o.choiceOf(r).dtype().id());
            }
            listener.batch(rows.length, packed.tokens(), o.choice().path().id(), System.nanoTime() - t0,
                    o.precisionFallback());
        });
        for (int i = 0; i < out.length; i++) {
            if (out[i] == null) {
                out[i] = new Embedding(null, null, null);
            }
        }
        return out;
    }

    /** One classified text: class probabilities, the most probable label and its probability, the path. */
    public record Classification(float[] probabilities, String label, double score, String path) {
    }

    /** Whether the checkpoint has a sequence-classification head (pooler + classifier). */
    public boolean hasClassifier() {
        return encoder.weights().classifier() != null && encoder.weights().pooler() != null;
    }

    /** Throws, naming the model directory, when the checkpoint has no sequence-classification head. */
    public void requireClassifier() {
        if (!hasClassifier()) {
            throw new ModelFormatException(directory + ": the model has no sequence-classification head (pooler.dense and "
                    + "classifier weights, as BertForSequenceClassification saves them)");
        }
    }

    /** The class labels, in id order ({@code id2label}, else LABEL_0, LABEL_1, ...). */
    public List<String> labels() {
        int n = encoder.weights().classifierBias() == null ? 0 : encoder.weights().classifierBias().length;
        List<String> l = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            l.add(config.id2label().getOrDefault(i, "LABEL_" + i));
        }
        return l;
    }

    /**
     * Classifies texts with the checkpoint's sequence-classification head on a device; input
     * order; a null text gives a null result.
     */
    public Classification[] classify(List<String> texts, int maxLength, int batchSize, int maxTokens, BatchRunner runner,
                                     CpuThreads threads) {
        return classify(texts, maxLength, batchSize, maxTokens, runner, threads, BatchListener.NONE);
    }

    /** As {@link #classify(List, int, int, int, BatchRunner, CpuThreads)}, telling {@code listener} about each batch. */
    public Classification[] classify(List<String> texts, int maxLength, int batchSize, int maxTokens, BatchRunner runner,
                                     CpuThreads threads, BatchListener listener) {
        requireClassifier();
        List<String> labels = labels();
        List<TokenizedText> tokens = tokenizeAll(texts, maxLength);
        Classification[] out = new Classification[texts.size()];
        forEachBatch(tokens, batchSize, maxTokens, (rows, packed) -> {
            long t0 = System.nanoTime();
            BatchOutcome o = runner.run(this, packed, threads);
            float[][] probs = SequenceClassifierHead.probabilities(o.hidden(), config.hiddenSize(), packed.cuSeqlens(),
                    encoder.weights());
            for (int r = 0; r < rows.length; r++) {
                int best = 0;
                for (int l = 1; l < probs[r].length; l++) {
                    if (probs[r][l] > probs[r][best]) {
                        best = l;
                    }
                }
                out[rows[r]] = new Classification(probs[r], labels.get(best), probs[r][best], o.choiceOf(r).path().id());
            }
            listener.batch(rows.length, packed.tokens(), o.choice().path().id(), System.nanoTime() - t0,
                    o.precisionFallback());
        });
        for (int i = 0; i < out.length; i++) {
            if (out[i] == null) {
                out[i] = new Classification(null, null, Double.NaN, null);
            }
        }
        return out;
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

    /** A batch body: the input indices of its rows and the packed tokens. */
    private interface BatchBody {
        void run(int[] inputRows, TokenBatch packed);
    }

    private void forEachBatch(List<TokenizedText> tokens, int batchSize, int maxTokens, BatchBody body) {
        List<Integer> present = new ArrayList<>();
        for (int i = 0; i < tokens.size(); i++) {
            if (tokens.get(i) != null) {
                present.add(i);
            }
        }
        int[] lengths = present.stream().mapToInt(i -> tokens.get(i).length()).toArray();
        for (int[] batch : new LengthBucketedBatcher(batchSize, Math.max(maxTokens, maxLength())).batches(lengths)) {
            List<TokenizedText> rows = new ArrayList<>(batch.length);
            int[] inputRows = new int[batch.length];
            for (int j = 0; j < batch.length; j++) {
                inputRows[j] = present.get(batch[j]);
                rows.add(tokens.get(inputRows[j]));
            }
            body.run(inputRows, TokenBatch.pack(rows));
        }
    }

    public int maxLength() {
        return tokenizer.maxLength();
    }

    public int dimension() {
        return config.hiddenSize();
    }

    /**
     * Embeds {@code texts} in fp32 with one given attention kernel (tests and benchmarks), in
     * batches of at most {@code batchSize} rows and {@code maxTokens} tokens, grouped by length;
     * returns one vector per text in input order (null for a null text).
     */
    public float[][] embed(List<String> texts, int batchSize, int maxTokens, AttentionKernel attention,
                           CpuThreads threads) {
        List<TokenizedText> tokens = new ArrayList<>(texts.size());
        for (String t : texts) {
            tokens.add(t == null ? null : tokenizer.encode(t));
        }
        return embedTokens(tokens, batchSize, maxTokens, attention, threads);
    }

    /** As {@link #embed(List, int, int, AttentionKernel, CpuThreads)}, for texts already tokenized (null entries give null vectors). */
    public float[][] embedTokens(List<TokenizedText> tokens, int batchSize, int maxTokens, AttentionKernel attention,
                                 CpuThreads threads) {
        float[][] out = new float[tokens.size()][];
        forEachBatch(tokens, batchSize, maxTokens, (rows, packed) -> {
            float[] hidden = encoder.forward(packed, attention, threads);
            float[][] vectors = SentencePooler.pool(hidden, config.hiddenSize(), packed.cuSeqlens(), sentence);
            for (int r = 0; r < rows.length; r++) {
                out[rows[r]] = vectors[r];
            }
        });
        return out;
    }

    @Override
    public void close() {
        tokenizer.close();
    }
}

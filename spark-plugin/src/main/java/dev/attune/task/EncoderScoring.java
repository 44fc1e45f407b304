package dev.attune.task;

import dev.attune.kernels.attention.AttentionKernel;
import dev.attune.kernels.cpu.CpuThreads;
import dev.attune.model.EncoderModel;
import dev.attune.model.bert.SentencePooler;
import dev.attune.model.bert.SequenceClassifierHead;
import dev.attune.model.bert.TokenBatch;
import dev.attune.model.tokenizer.TokenizedText;
import dev.attune.runtime.BatchOutcome;
import dev.attune.runtime.BatchRunner;
import dev.attune.runtime.LengthBucketedBatcher;
import java.util.ArrayList;
import java.util.List;

/**
 * What a text becomes with a BERT-family encoder: a sentence embedding, or class probabilities
 * from a sequence-classification head. Texts are tokenized by the model, grouped by length into
 * batches within the row and token limits ({@link LengthBucketedBatcher}), each batch runs on the
 * device's runner (which picks the path for its shape), and the hidden states are pooled or
 * classified; results come back in input order.
 *
 * <p>Pre-processing (tokenizing, truncation) is the model's, running a batch is the runner's,
 * post-processing (pooling, the classifier head) the model's heads': this class only wires them.
 *
 * <p>Threading: stateless; the model and runner are shared and thread-safe, {@code threads} is
 * the calling task's pool. Failure: a batch's exception propagates (the caller's row policy
 * decides); a null text gives a null result and no path.
 */
public final class EncoderScoring {

    private EncoderScoring() {}

    /** One embedded text: its vector (null for a null text) and the path and device that made it. */
    public record Embedding(float[] vector, String path, String dtype) {}

    /**
     * Why a result vector cannot be written (it holds NaN or an infinity), naming the model and the
     * path that produced it; null for a finite or null vector.
     */
    public static String nonFinite(float[] v, String model, String path) {
        if (v == null) {
            return null;
        }
        for (int i = 0; i < v.length; i++) {
            if (!Float.isFinite(v[i])) {
                return "model " + model + " on path " + path + " gave " + v[i] + " at element " + i
                        + " of the result (non-finite output)";
            }
        }
        return null;
    }

    /**
     * Embeds texts on a device: each length-grouped batch gets the path the device's selector
     * picks for its shape. Results are in input order; a null text gives a null vector and no path.
     */
    public static Embedding[] embed(
            EncoderModel model,
            List<String> texts,
            int batchSize,
            int maxTokens,
            BatchRunner runner,
            CpuThreads threads) {
        return embed(model, texts, 0, batchSize, maxTokens, runner, threads);
    }

    /** Told about every batch a device ran, for metrics. */
    @FunctionalInterface
    public interface BatchListener {
        BatchListener NONE = (rows, tokens, path, nanos, precisionFallback) -> {};

        /**
         * A batch of {@code rows} texts, {@code tokens} tokens in all, ran on {@code path} in
         * {@code nanos}; {@code precisionFallback}: it overflowed fp16 and was re-run in fp32.
         */
        void batch(int rows, int tokens, String path, long nanos, boolean precisionFallback);
    }

    /** As {@link #embed(EncoderModel, List, int, int, BatchRunner, CpuThreads)}, truncating to {@code maxLength} tokens (0: the model's). */
    public static Embedding[] embed(
            EncoderModel model,
            List<String> texts,
            int maxLength,
            int batchSize,
            int maxTokens,
            BatchRunner runner,
            CpuThreads threads) {
        return embed(model, texts, maxLength, batchSize, maxTokens, runner, threads, BatchListener.NONE);
    }

    /** As {@link #embed(EncoderModel, List, int, int, int, BatchRunner, CpuThreads)}, telling {@code listener} about each batch. */
    public static Embedding[] embed(
            EncoderModel model,
            List<String> texts,
            int maxLength,
            int batchSize,
            int maxTokens,
            BatchRunner runner,
            CpuThreads threads,
            BatchListener listener) {
        List<TokenizedText> tokens = model.tokenizeAll(texts, maxLength);
        Embedding[] out = new Embedding[texts.size()];
        runBatches(model, tokens, batchSize, maxTokens, runner, threads, listener, (rows, packed, o) -> {
            float[][] vectors =
                    SentencePooler.pool(o.hidden(), model.config().hiddenSize(), packed.cuSeqlens(), model.sentence());
            for (int r = 0; r < rows.length; r++) {
                out[rows[r]] = new Embedding(
                        vectors[r],
                        o.choiceOf(r).path().id(),
                        o.choiceOf(r).dtype().id());
            }
        });
        for (int i = 0; i < out.length; i++) {
            if (out[i] == null) {
                out[i] = new Embedding(null, null, null);
            }
        }
        return out;
    }

    /** One classified text: class probabilities, the most probable label and its probability, the path. */
    public record Classification(float[] probabilities, String label, double score, String path) {}

    /**
     * Classifies texts with the checkpoint's sequence-classification head on a device; input
     * order; a null text gives a null result.
     */
    public static Classification[] classify(
            EncoderModel model,
            List<String> texts,
            int maxLength,
            int batchSize,
            int maxTokens,
            BatchRunner runner,
            CpuThreads threads) {
        return classify(model, texts, maxLength, batchSize, maxTokens, runner, threads, BatchListener.NONE);
    }

    /** As {@link #classify(EncoderModel, List, int, int, int, BatchRunner, CpuThreads)}, telling {@code listener} about each batch. */
    public static Classification[] classify(
            EncoderModel model,
            List<String> texts,
            int maxLength,
            int batchSize,
            int maxTokens,
            BatchRunner runner,
            CpuThreads threads,
            BatchListener listener) {
        model.requireClassifier();
        List<String> labels = model.labels();
        List<TokenizedText> tokens = model.tokenizeAll(texts, maxLength);
        Classification[] out = new Classification[texts.size()];
        runBatches(model, tokens, batchSize, maxTokens, runner, threads, listener, (rows, packed, o) -> {
            float[][] probs = SequenceClassifierHead.probabilities(
                    o.hidden(),
                    model.config().hiddenSize(),
                    packed.cuSeqlens(),
                    model.encoder().weights());
            for (int r = 0; r < rows.length; r++) {
                int best = 0;
                for (int l = 1; l < probs[r].length; l++) {
                    if (probs[r][l] > probs[r][best]) {
                        best = l;
                    }
                }
                out[rows[r]] = new Classification(
                        probs[r],
                        labels.get(best),
                        probs[r][best],
                        o.choiceOf(r).path().id());
            }
        });
        for (int i = 0; i < out.length; i++) {
            if (out[i] == null) {
                out[i] = new Classification(null, null, Double.NaN, null);
            }
        }
        return out;
    }

    /**
     * Embeds {@code texts} in fp32 with one given attention kernel (tests and benchmarks), in
     * batches of at most {@code batchSize} rows and {@code maxTokens} tokens, grouped by length;
     * returns one vector per text in input order (null for a null text).
     */
    public static float[][] embed(
            EncoderModel model,
            List<String> texts,
            int batchSize,
            int maxTokens,
            AttentionKernel attention,
            CpuThreads threads) {
        List<TokenizedText> tokens = new ArrayList<>(texts.size());
        for (String t : texts) {
            tokens.add(t == null ? null : model.tokenizer().encode(t));
        }
        return embedTokens(model, tokens, batchSize, maxTokens, attention, threads);
    }

    /** As {@link #embed(EncoderModel, List, int, int, AttentionKernel, CpuThreads)}, for texts already tokenized (null entries give null vectors). */
    public static float[][] embedTokens(
            EncoderModel model,
            List<TokenizedText> tokens,
            int batchSize,
            int maxTokens,
            AttentionKernel attention,
            CpuThreads threads) {
        float[][] out = new float[tokens.size()][];
        forEachBatch(model, tokens, batchSize, maxTokens, (rows, packed) -> {
            float[] hidden = model.encoder().forward(packed, attention, threads);
            float[][] vectors =
                    SentencePooler.pool(hidden, model.config().hiddenSize(), packed.cuSeqlens(), model.sentence());
            for (int r = 0; r < rows.length; r++) {
                out[rows[r]] = vectors[r];
            }
        });
        return out;
    }

    /** What a batch's outcome becomes: the input indices of its rows, the packed tokens, what the device produced. */
    private interface OutcomeBody {
        void accept(int[] inputRows, TokenBatch packed, BatchOutcome outcome);
    }

    /**
     * Runs each length-grouped batch on the device's runner, hands the outcome to {@code body}
     * and then tells {@code listener} about the batch (its time includes {@code body}'s).
     */
    private static void runBatches(
            EncoderModel model,
            List<TokenizedText> tokens,
            int batchSize,
            int maxTokens,
            BatchRunner runner,
            CpuThreads threads,
            BatchListener listener,
            OutcomeBody body) {
        forEachBatch(model, tokens, batchSize, maxTokens, (rows, packed) -> {
            long t0 = System.nanoTime();
            BatchOutcome o = runner.run(model, packed, threads);
            body.accept(rows, packed, o);
            listener.batch(
                    rows.length,
                    packed.tokens(),
                    o.choice().path().id(),
                    System.nanoTime() - t0,
                    o.precisionFallback());
        });
    }

    /** A batch body: the input indices of its rows and the packed tokens. */
    private interface BatchBody {
        void run(int[] inputRows, TokenBatch packed);
    }

    private static void forEachBatch(
            EncoderModel model, List<TokenizedText> tokens, int batchSize, int maxTokens, BatchBody body) {
        List<Integer> present = new ArrayList<>();
        for (int i = 0; i < tokens.size(); i++) {
            if (tokens.get(i) != null) {
                present.add(i);
            }
        }
        int[] lengths = present.stream().mapToInt(i -> tokens.get(i).length()).toArray();
        for (int[] batch :
                new LengthBucketedBatcher(batchSize, Math.max(maxTokens, model.maxLength())).batches(lengths)) {
            List<TokenizedText> rows = new ArrayList<>(batch.length);
            int[] inputRows = new int[batch.length];
            for (int j = 0; j < batch.length; j++) {
                inputRows[j] = present.get(batch[j]);
                rows.add(tokens.get(inputRows[j]));
            }
            body.run(inputRows, TokenBatch.pack(rows));
        }
    }
}

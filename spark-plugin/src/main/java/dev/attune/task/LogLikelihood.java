package dev.attune.task;

import dev.attune.kernels.attention.MaskKind;
import dev.attune.kernels.cpu.CpuThreads;
import dev.attune.kernels.ops.Tensor;
import dev.attune.kernels.select.AttentionChoice;
import dev.attune.kernels.select.AttentionRequest;
import dev.attune.model.DecoderModel;
import dev.attune.model.llama.LlamaGraph;
import dev.attune.model.llama.SequenceBatch;
import dev.attune.runtime.DeviceRunner;
import dev.attune.runtime.LengthBucketedBatcher;
import dev.attune.runtime.PassOutcome;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Log-likelihood scoring with a decoder: each row is tokenized, rows are packed by length into
 * batches of at most {@code maxRows} rows and {@code maxTokens} tokens, each batch is one causal
 * prefill on the device (no compute on padding: rows are packed back to back), and the
 * log-probability of every scored token is read from the logits of the token before it, on the
 * device, so only one number per token comes back.
 *
 * <p>A text alone scores every token after the first. A completion given a prompt scores only the
 * completion: the row is tokenized whole ({@code prompt + text}) and the first
 * {@code len(tokenize(prompt))} tokens are context (as lm-evaluation-harness splits them, so
 * a token that spans the boundary belongs to the completion).
 *
 * <p>Rows longer than the context ({@code max_position_embeddings}) are a
 * {@link RowTooLongException} naming the row, unless {@code truncateLeft} is set, which keeps
 * the last tokens (the prompt's start is dropped first).
 *
 * <p>Threading: one instance per task thread; the model and runner are shared and thread-safe.
 */
public final class LogLikelihood {

    /** Told about every batch, for progress and metrics. */
    @FunctionalInterface
    public interface Listener {
        Listener NONE = (rows, tokens, choice, nanos) -> { };

        void batch(int rows, int tokens, AttentionChoice choice, long nanos);
    }

    private final DecoderModel model;
    private final DeviceRunner runner;
    private final CpuThreads threads;
    private final int maxRows;
    private final int maxTokens;
    private final boolean truncateLeft;

    public LogLikelihood(DecoderModel model, DeviceRunner runner, CpuThreads threads, int maxRows, int maxTokens,
                         boolean truncateLeft) {
        if (maxRows < 1 || maxTokens < 1) {
            throw new IllegalArgumentException("batch limits must be positive: rows=" + maxRows + ", tokens=" + maxTokens);
        }
        this.model = model;
        this.runner = runner;
        this.threads = threads;
        this.maxRows = maxRows;
        this.maxTokens = maxTokens;
        this.truncateLeft = truncateLeft;
    }

    /** A tokenized row: all its ids and the first one scored. */
    private record Tokens(int[] ids, int firstScored) {
        int scored() {
            return Math.max(0, ids.length - firstScored);
        }
    }

    /** Scores rows, in input order; a null text gives a null score. */
    public SequenceScore[] score(List<ScoreRequest> rows) {
        return score(rows, Listener.NONE);
    }

    public SequenceScore[] score(List<ScoreRequest> rows, Listener listener) {
        int context = model.config().maxPositions();
        Tokens[] tokens = new Tokens[rows.size()];
        List<Integer> present = new ArrayList<>();
        for (int i = 0; i < rows.size(); i++) {
            ScoreRequest r = rows.get(i);
            if (r == null || r.text() == null) {
                continue;
            }
            Tokens t = tokenize(r);
            if (t.ids.length > context) {
                if (!truncateLeft) {
                    throw new RowTooLongException(i, "row " + i + ": " + t.ids.length + " tokens, more than the model's "
                            + "context of " + context + " (max_position_embeddings of " + model.directory() + ")");
                }
                int cut = t.ids.length - context;
                t = new Tokens(Arrays.copyOfRange(t.ids, cut, t.ids.length), Math.max(1, t.firstScored - cut));
            }
            tokens[i] = t;
            present.add(i);
        }
        SequenceScore[] out = new SequenceScore[rows.size()];
        int[] lengths = present.stream().mapToInt(i -> tokens[i].ids.length).toArray();
        for (int[] batch : new LengthBucketedBatcher(maxRows, maxTokens).batches(lengths)) {
            int[] inputRows = new int[batch.length];
            List<int[]> ids = new ArrayList<>(batch.length);
            for (int j = 0; j < batch.length; j++) {
                inputRows[j] = present.get(batch[j]);
                ids.add(tokens[inputRows[j]].ids);
            }
            long t0 = System.nanoTime();
            SequenceBatch packed = SequenceBatch.prefill(ids);
            Tokens[] batchTokens = Arrays.stream(inputRows).mapToObj(i -> tokens[i]).toArray(Tokens[]::new);
            PassOutcome<float[]> o = runBatch(packed, batchTokens);
            AttentionChoice c = o.choice();
            int k = 0;
            for (int j = 0; j < batch.length; j++) {
                Tokens t = batchTokens[j];
                float[] lp = new float[t.ids.length];
                Arrays.fill(lp, Float.NaN);
                double sum = 0;
                for (int p = t.firstScored; p < t.ids.length; p++) {
                    lp[p] = o.value()[k++];
                    sum += lp[p];
                }
                out[inputRows[j]] = new SequenceScore(t.ids, lp, t.firstScored, sum, t.scored(),
                        runner.device().label(), c.path().id(), c.dtype().id());
            }
            listener.batch(batch.length, packed.tokens(), c, System.nanoTime() - t0);
        }
        return out;
    }

    private Tokens tokenize(ScoreRequest r) {
        if (r.prompt() == null) {
            return new Tokens(model.tokenize(r.text()), 1);
        }
        int[] whole = model.tokenize(r.prompt() + r.text());
        int context = model.tokenize(r.prompt()).length;
        return new Tokens(whole, Math.max(1, Math.min(context, whole.length)));
    }

    /** One prefill of the packed rows; returns the scored tokens' log-probs, row after row. */
    private PassOutcome<float[]> runBatch(SequenceBatch batch, Tokens[] rows) {
        int scored = 0;
        for (Tokens t : rows) {
            scored += t.scored();
        }
        int[] hiddenRows = new int[scored];
        int[] targets = new int[scored];
        int k = 0;
        for (int b = 0; b < rows.length; b++) {
            int start = batch.cuSeqlens()[b];
            for (int p = rows[b].firstScored; p < rows[b].ids.length; p++) {
                hiddenRows[k] = start + p - 1;  // the logits at p - 1 predict token p
                targets[k++] = rows[b].ids[p];
            }
        }
        LlamaGraph graph = model.graph();
        AttentionRequest request = new AttentionRequest(model.storedDtype(), model.config().heads(),
                model.config().headDim(), batch.rows(), Math.max(1, batch.maxLength()), MaskKind.CAUSAL);
        return runner.run(request, threads, (ops, choice) -> {
            LlamaGraph.Resident w = runner.resident(model, choice.dtype(), graph::residentOn);
            Tensor hidden = graph.forward(w, batch, ops);
            return ops.tokenLogProbs(hidden, hiddenRows, w.lmHead(), targets);
        });
    }
}

package dev.attune.task;

import dev.attune.kernels.attention.MaskKind;
import dev.attune.kernels.cpu.CpuThreads;
import dev.attune.kernels.device.DeviceInfo;
import dev.attune.kernels.memory.DecoderShape;
import dev.attune.kernels.memory.MemoryPlanner;
import dev.attune.kernels.ops.CpuTensorOps;
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
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

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
 * <p>Rows that continue the same prompt (label choice's candidates, or completion rows sharing
 * a prompt) share its prefill: the prompt is one row of the batch and each continuation attends
 * to its keys and values ({@link SequenceBatch#withPrefixes}), so the prompt is computed once
 * for all of them. A row whose tokens do not begin with the prompt's own (a token spanning the
 * boundary) is scored alone.
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
        Listener NONE = (rows, tokens, choice, nanos) -> {};

        void batch(int rows, int tokens, AttentionChoice choice, long nanos);
    }

    private final DecoderModel model;
    private final DeviceRunner runner;
    private final CpuThreads threads;
    private final int maxRows;
    private final int maxTokens;
    private final boolean truncateLeft;

    public LogLikelihood(
            DecoderModel model,
            DeviceRunner runner,
            CpuThreads threads,
            int maxRows,
            int maxTokens,
            boolean truncateLeft) {
        if (maxRows < 1 || maxTokens < 1) {
            throw new IllegalArgumentException(
                    "batch limits must be positive: rows=" + maxRows + ", tokens=" + maxTokens);
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
        Map<String, int[]> promptTokens = new HashMap<>();
        // Rows that continue the same prompt, whose tokens begin with the prompt's own tokens.
        Map<String, List<Integer>> sharing = new LinkedHashMap<>();
        List<Integer> present = new ArrayList<>();
        for (int i = 0; i < rows.size(); i++) {
            ScoreRequest r = rows.get(i);
            if (r == null || r.text() == null) {
                continue;
            }
            Tokens t;
            int[] prompt = null;
            if (r.prompt() == null) {
                t = new Tokens(model.tokenize(r.text()), 1);
            } else {
                prompt = promptTokens.computeIfAbsent(r.prompt(), model::tokenize);
                int[] whole = model.tokenize(r.prompt() + r.text());
                t = new Tokens(whole, Math.max(1, Math.min(prompt.length, whole.length)));
            }
            if (t.ids.length > context) {
                if (!truncateLeft) {
                    throw new RowTooLongException(
                            i,
                            "row " + i + ": " + t.ids.length + " tokens, more than the model's " + "context of "
                                    + context + " (max_position_embeddings of " + model.directory() + ")");
                }
                int cut = t.ids.length - context;
                t = new Tokens(Arrays.copyOfRange(t.ids, cut, t.ids.length), Math.max(1, t.firstScored - cut));
            } else if (prompt != null
                    && prompt.length > 0
                    && t.ids.length > prompt.length
                    && Arrays.equals(t.ids, 0, prompt.length, prompt, 0, prompt.length)) {
                sharing.computeIfAbsent(r.prompt(), k -> new ArrayList<>()).add(i);
            }
            tokens[i] = t;
            present.add(i);
        }
        // Work items: a prompt with the rows that continue it (its prefill done once for all of
        // them), or one row alone.
        List<Item> items = new ArrayList<>();
        Set<Integer> shared = new HashSet<>();
        for (Map.Entry<String, List<Integer>> e : sharing.entrySet()) {
            if (e.getValue().size() > 1) {
                items.add(new Item(promptTokens.get(e.getKey()), e.getValue()));
                shared.addAll(e.getValue());
            }
        }
        for (int i : present) {
            if (!shared.contains(i)) {
                items.add(new Item(null, List.of(i)));
            }
        }
        int tokenBudget = planTokens(items, tokens);
        items = fitShared(items, tokens, tokenBudget);
        SequenceScore[] out = new SequenceScore[rows.size()];
        int[] lengths = items.stream().mapToInt(it -> it.tokens(tokens)).toArray();
        for (int[] batch : new LengthBucketedBatcher(maxRows, tokenBudget).batches(lengths)) {
            long t0 = System.nanoTime();
            Packed packed = pack(batch, items, tokens);
            PassOutcome<float[]> o = runBatch(packed.batch(), packed.hiddenRows(), packed.targets());
            AttentionChoice c = o.choice();
            int k = 0;
            for (int i : packed.inputRows()) {
                Tokens t = tokens[i];
                float[] lp = new float[t.ids.length];
                Arrays.fill(lp, Float.NaN);
                double sum = 0;
                for (int p = t.firstScored; p < t.ids.length; p++) {
                    lp[p] = o.value()[k++];
                    sum += lp[p];
                }
                out[i] = new SequenceScore(
                        t.ids,
                        lp,
                        t.firstScored,
                        sum,
                        t.scored(),
                        runner.device().label(),
                        c.path().id(),
                        c.dtype().id());
            }
            listener.batch(packed.inputRows().size(), packed.batch().tokens(), c, System.nanoTime() - t0);
        }
        return out;
    }

    /**
     * Tokens per batch from the device's memory: what is free within the runner's memory fraction
     * (less the weights, on a GPU; on the CPU they are already in the heap that was measured),
     * divided between the {@linkplain DeviceRunner#concurrentTasks tasks sharing the device}, less
     * this task's logit scratch, over the activation bytes of one token in the dtype the device
     * computes in; at most {@code maxTokens}. A row whose own activations and attention workspace do not
     * fit alone is that row's {@link RowTooLongException}, not an out-of-memory crash.
     */
    private int planTokens(List<Item> items, Tokens[] tokens) {
        DecoderShape shape = model.shape();
        int longest = 1;
        boolean shared = false;
        for (Item it : items) {
            shared |= it.members().size() > 1;
            for (int m : it.members()) {
                longest = Math.max(longest, tokens[m].ids.length);
            }
        }
        AttentionChoice c = runner.choose(request(1, longest, shared));
        DeviceInfo d = runner.device();
        long free = d.isGpu() ? d.freeMemory() : DeviceInfo.cpu().freeMemory();
        long logits = (long) CpuTensorOps.LOGIT_ROWS * shape.vocab() * Float.BYTES; // scratch of the logit reduction
        // The weights are resident once for every task on the device; the logit scratch is this task's own.
        double budget = MemoryPlanner.taskBudget(
                        free,
                        runner.memoryFraction(),
                        d.isGpu() ? MemoryPlanner.weightBytes(shape, c.dtype()) : 0,
                        runner.concurrentTasks())
                - logits;
        long perToken = MemoryPlanner.decoderBytesPerToken(shape, c.dtype());
        for (Item it : items) {
            for (int m : it.members()) {
                int n = tokens[m].ids.length;
                long need = n * perToken + MemoryPlanner.decoderAttentionBytes(shape, n, n, c.path(), c.queryChunk());
                if (need > budget) {
                    throw new RowTooLongException(
                            m,
                            "row " + m + ": " + n + " tokens need " + (need >> 20) + " MiB of "
                                    + "activations on " + d.label() + " ("
                                    + c.path().id() + ", " + c.dtype().id() + "), more "
                                    + "than the " + ((long) Math.max(0, budget) >> 20) + " MiB it has for them");
                }
            }
        }
        return (int) Math.max(1, Math.min(maxTokens, (long) (budget / perToken)));
    }

    /**
     * Items of a shared prompt whose continuations together exceed the token budget are cut into
     * several, each holding the prompt once and as many continuations as fit.
     */
    private static List<Item> fitShared(List<Item> items, Tokens[] tokens, int budget) {
        List<Item> out = new ArrayList<>(items.size());
        for (Item it : items) {
            if (it.prefix() == null || it.tokens(tokens) <= budget) {
                out.add(it);
                continue;
            }
            List<Integer> cur = new ArrayList<>();
            int used = it.shared();
            for (int m : it.members()) {
                int own = tokens[m].ids.length - it.shared();
                if (!cur.isEmpty() && used + own > budget) {
                    out.add(new Item(it.prefix(), List.copyOf(cur)));
                    cur.clear();
                    used = it.shared();
                }
                cur.add(m);
                used += own;
            }
            out.add(new Item(it.prefix(), List.copyOf(cur)));
        }
        return out;
    }

    /**
     * A unit of batching: rows continuing one shared prompt ({@code prefix}: its tokens, with which
     * every member's tokens begin), or a single row ({@code prefix} null).
     */
    private record Item(int[] prefix, List<Integer> members) {

        /** Leading tokens of each member that the prefix row holds. */
        int shared() {
            return prefix == null ? 0 : prefix.length;
        }

        /** Tokens the item puts into a batch: the prefix once, then each member's own tokens. */
        int tokens(Tokens[] rows) {
            int n = shared();
            for (int m : members) {
                n += rows[m].ids.length - shared();
            }
            return n;
        }
    }

    /** A packed batch, the input rows it scores (in order) and where each scored token's logits are read. */
    private record Packed(SequenceBatch batch, List<Integer> inputRows, int[] hiddenRows, int[] targets) {}

    private static Packed pack(int[] batch, List<Item> items, Tokens[] tokens) {
        List<int[]> ids = new ArrayList<>();
        List<Integer> prefixRows = new ArrayList<>();
        List<Integer> inputRows = new ArrayList<>();
        List<int[]> placed = new ArrayList<>(); // per scored row: {packed row, its prefix row or -1}
        for (int b : batch) {
            Item it = items.get(b);
            int prefixRow = -1;
            if (it.prefix() != null) {
                prefixRow = ids.size();
                ids.add(it.prefix());
                prefixRows.add(-1);
            }
            for (int m : it.members()) {
                placed.add(new int[] {ids.size(), prefixRow});
                ids.add(Arrays.copyOfRange(tokens[m].ids, it.shared(), tokens[m].ids.length));
                prefixRows.add(prefixRow);
                inputRows.add(m);
            }
        }
        int[] pr = prefixRows.stream().mapToInt(Integer::intValue).toArray();
        SequenceBatch packed = Arrays.stream(pr).anyMatch(p -> p >= 0)
                ? SequenceBatch.withPrefixes(ids, pr)
                : SequenceBatch.prefill(ids);
        int scored = 0;
        for (int m : inputRows) {
            scored += tokens[m].scored();
        }
        int[] hiddenRows = new int[scored];
        int[] targets = new int[scored];
        int k = 0;
        for (int j = 0; j < inputRows.size(); j++) {
            Tokens t = tokens[inputRows.get(j)];
            int own = packed.cuSeqlens()[placed.get(j)[0]];
            int prefixRow = placed.get(j)[1];
            int n0 = prefixRow < 0 ? 0 : packed.length(prefixRow);
            for (int p = t.firstScored; p < t.ids.length; p++) {
                // The logits at token p - 1 predict token p; token p - 1 is the prefix's last when p == n0.
                int prev = p - 1;
                hiddenRows[k] = prev < n0 ? packed.cuSeqlens()[prefixRow] + prev : own + prev - n0;
                targets[k++] = t.ids[p];
            }
        }
        return new Packed(packed, inputRows, hiddenRows, targets);
    }

    /**
     * The selector's request for a causal prefill of {@code rows} rows whose longest reads {@code
     * keys} keys, with the model's K/V heads and window, and whether rows read a shared prompt.
     */
    private AttentionRequest request(int rows, int keys, boolean sharedPrefix) {
        return new AttentionRequest(
                model.storedDtype(),
                model.config().heads(),
                model.config().headDim(),
                rows,
                Math.max(1, keys),
                MaskKind.CAUSAL,
                model.config().kvHeads(),
                model.config().slidingWindow(),
                sharedPrefix);
    }

    /** One prefill of a packed batch; returns the log-probs of {@code targets} read at {@code hiddenRows}. */
    private PassOutcome<float[]> runBatch(SequenceBatch batch, int[] hiddenRows, int[] targets) {
        LlamaGraph graph = model.graph();
        boolean shared =
                batch.prefixRows() != null && Arrays.stream(batch.prefixRows()).anyMatch(r -> r >= 0);
        AttentionRequest request = request(batch.rows(), batch.maxContextLength(), shared);
        return runner.run(request, threads, (ops, choice) -> {
            LlamaGraph.Resident w = runner.resident(model, choice.dtype(), graph::residentOn);
            Tensor hidden = graph.forward(w, batch, ops);
            return ops.tokenLogProbs(hidden, hiddenRows, w.lmHead(), targets);
        });
    }
}

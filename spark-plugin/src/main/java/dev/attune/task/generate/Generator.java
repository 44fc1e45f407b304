package dev.attune.task.generate;

import dev.attune.kernels.kv.KvBatch;
import dev.attune.kernels.kv.KvBlockPool;
import dev.attune.kernels.kv.KvSequence;
import dev.attune.kernels.ops.Tensor;
import dev.attune.kernels.ops.TensorOps;
import dev.attune.model.llama.LlamaGraph;
import dev.attune.model.llama.SequenceBatch;
import dev.attune.model.tokenizer.TextTokenizer;
import dev.attune.task.RowTooLongException;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Deque;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.function.Supplier;

/**
 * Generation with continuous batching over a paged KV cache: up to {@code maxActive} sequences
 * are active, a row being admitted when the free blocks hold its prompt; every step runs one pass in which each active sequence either feeds its next prompt
 * chunk (prefill, chunked to the pass's token budget) or its last sampled token (decode), then
 * every sequence that has caught up samples its next token. A sequence that finishes leaves at
 * once and the next row of the queue takes its place in the following step. When the pool has no
 * block for a sequence, the youngest active sequence is preempted: its blocks go back to the pool
 * and it returns to the front of the queue, to be recomputed from its prompt and the tokens it
 * has generated (its random stream is kept, so its output does not change). A row admitted while
 * others hold the blocks of the same first tokens (a shared system prompt, a few-shot preamble)
 * takes those blocks instead of computing them again; every full block a row computes is offered
 * for sharing (see {@link KvBlockPool}).
 *
 * <p>Results: one per row, in input order; the same tokens whatever {@code maxActive}, the pass
 * budget or the preemptions (on the CPU in fp32: every row's arithmetic is independent of the
 * other rows of its pass).
 *
 * <p>Lifecycle and threading: one instance per partition's run, on one thread; the pool is its
 * own for that time. Failure: a row whose prompt and completion cannot fit the pool even alone
 * raises {@link RowTooLongException} naming it; a row whose logits are not finite raises
 * {@link NonFiniteLogitsException} naming it; an exception from the pass propagates, with every
 * block given back.
 */
public final class Generator {

    /**
     * What each pass did, for metrics; called on the generating thread after the pass.
     * {@code decodeTokens} are the pass's one-token steps of caught-up rows, {@code prefillTokens}
     * its prompt chunks (and recomputation after preemption).
     */
    public interface Listener {
        void pass(int activeRows, int decodeTokens, int prefillTokens, int blocksInUse, long nanos);

        /** A row lost its cache to make room for older ones. */
        default void preempted() {}

        /** A row was admitted with {@code tokens} prompt tokens already cached by rows sharing its prefix. */
        default void sharedPrefix(int tokens) {}

        Listener NONE = (a, d, p, b, n) -> {};
    }

    private final LlamaGraph graph;
    private final LlamaGraph.Resident weights;
    private final Supplier<TensorOps> ops;
    private final KvBlockPool pool;
    private final TextTokenizer tokenizer;
    private final Set<Integer> eos;
    private final int maxActive;
    private final int passTokens;
    private final Listener listener;

    /**
     * @param ops        a fresh op set for each pass (its activations live for the pass)
     * @param maxActive  sequences decoded together at most
     * @param passTokens tokens one pass feeds at most (decode tokens first, then prefill chunks)
     */
    public Generator(
            LlamaGraph graph,
            LlamaGraph.Resident weights,
            Supplier<TensorOps> ops,
            KvBlockPool pool,
            TextTokenizer tokenizer,
            Set<Integer> eos,
            int maxActive,
            int passTokens) {
        this(graph, weights, ops, pool, tokenizer, eos, maxActive, passTokens, Listener.NONE);
    }

    /** As above, telling {@code listener} what each pass did. */
    public Generator(
            LlamaGraph graph,
            LlamaGraph.Resident weights,
            Supplier<TensorOps> ops,
            KvBlockPool pool,
            TextTokenizer tokenizer,
            Set<Integer> eos,
            int maxActive,
            int passTokens,
            Listener listener) {
        if (maxActive < 1 || passTokens < maxActive) {
            throw new IllegalArgumentException("generation needs at least one active sequence and a pass of at least"
                    + " one token per sequence: maxActive=" + maxActive + " passTokens=" + passTokens);
        }
        this.graph = graph;
        this.weights = weights;
        this.ops = ops;
        this.pool = pool;
        this.tokenizer = tokenizer;
        this.eos = Set.copyOf(eos);
        this.maxActive = maxActive;
        this.passTokens = passTokens;
        this.listener = listener;
    }

    /** A row's progress. */
    private static final class Row {
        final int index;
        final GenerationRequest req;
        final SplittableRandom rng;
        int[] all; // prompt, then generated tokens
        int generated;
        KvSequence seq;
        int fed; // tokens of `all` in the cache
        long admitted;
        int preemptions;
        /** The generated text so far, for stop strings (null when the row has none). */
        final IncrementalDetokenizer detokenizer;
        /** Each generated token's log-probability under the model (before any sampling transform). */
        float[] logprobs = new float[0];

        Row(int index, GenerationRequest req, TextTokenizer tokenizer) {
            this.index = index;
            this.req = req;
            this.rng = TokenSampler.streamFor(req.params().seed(), req.key());
            this.all = req.promptIds();
            this.detokenizer = req.params().stop().isEmpty() ? null : new IncrementalDetokenizer(tokenizer);
        }

        int[] generatedIds() {
            return Arrays.copyOfRange(all, all.length - generated, all.length);
        }
    }

    /** Generates for every row; results in input order. */
    public List<GeneratedText> generate(List<GenerationRequest> rows) {
        GeneratedText[] out = new GeneratedText[rows.size()];
        Deque<Row> queue = new ArrayDeque<>();
        for (int i = 0; i < rows.size(); i++) {
            Row r = new Row(i, rows.get(i), tokenizer);
            int need = r.all.length + r.req.params().maxNewTokens();
            if (pool.shape().blocksOf(need) > pool.capacity()) {
                throw new RowTooLongException(
                        i,
                        "row " + i + ": " + r.all.length + " prompt tokens and up to "
                                + r.req.params().maxNewTokens() + " new ones need "
                                + pool.shape().blocksOf(need)
                                + " KV blocks; the cache holds " + pool.capacity());
            }
            queue.addLast(r);
        }
        List<Row> active = new ArrayList<>();
        long stamp = 0;
        try {
            while (!queue.isEmpty() || !active.isEmpty()) {
                while (active.size() < maxActive && !queue.isEmpty()) {
                    Row r = queue.pollFirst();
                    r.seq = new KvSequence(pool);
                    // Whole blocks another row has computed for the same first tokens; the last
                    // token is always fed, since its logits choose the next one.
                    int shared = r.seq.adoptPrefix(r.all, r.all.length - 1);
                    // Admitted only when the free blocks hold the rest of its prompt and a first
                    // new token, besides what the active rows still need for theirs: the cache,
                    // not maxActive alone, bounds the rows in flight, so rows are not admitted
                    // only to be preempted before they generate.
                    if (!active.isEmpty() && outstanding(r) + outstanding(active) > pool.freeBlocks()) {
                        r.seq.release();
                        queue.addFirst(r);
                        break;
                    }
                    r.fed = shared;
                    if (shared > 0) {
                        listener.sharedPrefix(shared);
                    }
                    r.admitted = stamp++;
                    active.add(r);
                }
                List<Row> plan = new ArrayList<>();
                List<Integer> counts = new ArrayList<>();
                planPass(active, queue, plan, counts);
                step(plan, counts, active, out);
            }
        } finally {
            for (Row r : active) {
                r.seq.release();
            }
        }
        return Arrays.asList(out);
    }

    /**
     * Chooses each active row's tokens for this pass and reserves their room, preempting the
     * youngest rows when the pool runs out. Decode tokens first (oldest row first), then prefill
     * chunks from what the budget leaves.
     */
    private void planPass(List<Row> active, Deque<Row> queue, List<Row> plan, List<Integer> counts) {
        List<Row> byAge = new ArrayList<>(active);
        byAge.sort((a, b) -> Long.compare(a.admitted, b.admitted));
        int budget = passTokens;
        List<Row> decode = byAge.stream().filter(r -> r.all.length - r.fed == 1).toList();
        List<Row> prefill = byAge.stream().filter(r -> r.all.length - r.fed > 1).toList();
        List<Row> order = new ArrayList<>(decode);
        order.addAll(prefill);
        for (Row r : order) {
            if (!active.contains(r)) {
                continue; // preempted while planning an older row
            }
            int n = Math.min(r.all.length - r.fed, budget);
            if (n <= 0) {
                continue;
            }
            boolean preempted = false;
            while (!r.seq.reserve(n)) {
                Row victim = youngest(active);
                if (victim == r && active.size() == 1) {
                    throw new IllegalStateException("KV cache of " + pool.capacity() + " blocks cannot hold row "
                            + r.index + " alone"); // excluded by the check in generate
                }
                int at = plan.indexOf(victim);
                if (at >= 0) {
                    budget += counts.remove(at);
                    plan.remove(at);
                }
                victim.seq.release();
                victim.preemptions++;
                listener.preempted();
                active.remove(victim);
                queue.addFirst(victim);
                if (victim == r) {
                    preempted = true; // the youngest waits for room
                    break;
                }
            }
            if (preempted) {
                continue;
            }
            plan.add(r);
            counts.add(n);
            budget -= n;
        }
    }

    /** Blocks a row still has to take for its tokens so far and one more. */
    private int outstanding(Row r) {
        return Math.max(0, pool.shape().blocksOf(r.all.length + 1) - r.seq.blocks());
    }

    private int outstanding(List<Row> rows) {
        int n = 0;
        for (Row r : rows) {
            n += outstanding(r);
        }
        return n;
    }

    private static Row youngest(List<Row> active) {
        Row y = null;
        for (Row a : active) {
            if (y == null || a.admitted > y.admitted) {
                y = a;
            }
        }
        return y;
    }

    /** One pass over the planned rows, then a token for each row that has caught up. */
    private void step(List<Row> plan, List<Integer> counts, List<Row> active, GeneratedText[] out) {
        if (plan.isEmpty()) {
            return; // every row waits for room this step; the queue's front is admitted next
        }
        int[] cu = new int[plan.size() + 1];
        for (int b = 0; b < plan.size(); b++) {
            cu[b + 1] = cu[b] + counts.get(b);
        }
        int[] ids = new int[cu[plan.size()]];
        int[] positions = new int[ids.length];
        List<KvSequence> seqs = new ArrayList<>(plan.size());
        for (int b = 0; b < plan.size(); b++) {
            Row r = plan.get(b);
            for (int i = 0; i < counts.get(b); i++) {
                ids[cu[b] + i] = r.all[r.fed + i];
                positions[cu[b] + i] = r.fed + i;
            }
            seqs.add(r.seq);
        }
        KvBatch kv = new KvBatch(pool, seqs);
        TensorOps o = ops.get();
        long t0 = System.nanoTime();
        Tensor hidden = graph.forward(weights, new SequenceBatch(ids, cu, positions), kv, o);
        kv.advance(cu);
        for (Row r : plan) {
            r.seq.publish(r.all);
        }
        int decodeTokens = 0;
        for (int b = 0; b < plan.size(); b++) {
            Row r = plan.get(b);
            decodeTokens += counts.get(b) == 1 && r.generated > 0 && r.fed == r.all.length - 1 ? 1 : 0;
        }
        List<Row> caughtUp = new ArrayList<>();
        List<Integer> lastRows = new ArrayList<>();
        for (int b = 0; b < plan.size(); b++) {
            Row r = plan.get(b);
            r.fed += counts.get(b);
            if (r.fed == r.all.length) {
                caughtUp.add(r);
                lastRows.add(cu[b + 1] - 1);
            }
        }
        float[] logits = caughtUp.isEmpty()
                ? null
                : o.logits(hidden, lastRows.stream().mapToInt(Integer::intValue).toArray(), weights.lmHead());
        listener.pass(
                active.size(),
                decodeTokens,
                ids.length - decodeTokens,
                pool.capacity() - pool.freeBlocks(),
                System.nanoTime() - t0);
        if (caughtUp.isEmpty()) {
            return;
        }
        int vocab = weights.lmHead().rows();
        for (int j = 0; j < caughtUp.size(); j++) {
            Row r = caughtUp.get(j);
            SamplingParams p = r.req.params();
            for (int v = j * vocab; v < (j + 1) * vocab; v++) {
                float z = logits[v];
                if (z - z != 0f) { // NaN or an infinity
                    throw new NonFiniteLogitsException(
                            r.index,
                            "row " + r.index + ": the model gave a non-finite"
                                    + " logit (" + z + " for token " + (v - j * vocab) + ") at generated token "
                                    + (r.generated + 1) + "; no token is chosen from it");
                }
            }
            int next = TokenSampler.sample(logits, j * vocab, vocab, p, r.all, r.generatedIds(), r.rng);
            r.logprobs = Arrays.copyOf(r.logprobs, r.generated + 1);
            r.logprobs[r.generated] = logProbability(logits, j * vocab, vocab, next);
            r.all = Arrays.copyOf(r.all, r.all.length + 1);
            r.all[r.all.length - 1] = next;
            r.generated++;
            GeneratedText done = finished(r);
            if (done != null) {
                out[r.index] = done;
                r.seq.release();
                active.remove(r);
            }
        }
    }

    /** log softmax(z)[token] over z = logits[off, off + vocab), summed in double. */
    static float logProbability(float[] logits, int off, int vocab, int token) {
        float max = Float.NEGATIVE_INFINITY;
        for (int v = off; v < off + vocab; v++) {
            max = Math.max(max, logits[v]);
        }
        double sum = 0;
        for (int v = off; v < off + vocab; v++) {
            sum += Math.exp(logits[v] - max);
        }
        return (float) (logits[off + token] - max - Math.log(sum));
    }

    /**
     * The row's result when its last token ends it, else null. Stop strings are looked for in the
     * text the new token added (with the tail before it that a stop string could start in), so a
     * step costs the same however long the row is; when the row ends, its whole text is decoded
     * once and cut before the first stop string in it.
     */
    private GeneratedText finished(Row r) {
        SamplingParams p = r.req.params();
        int[] gen = r.generatedIds();
        int last = gen[gen.length - 1];
        boolean stopped = false;
        if (r.detokenizer != null) {
            int before = r.detokenizer.text().length();
            String added = r.detokenizer.append(gen);
            if (!added.isEmpty()) {
                CharSequence text = r.detokenizer.text();
                int from = Math.max(0, before - longest(p.stop()) + 1);
                String tail = text.subSequence(from, text.length()).toString();
                stopped = p.stop().stream().anyMatch(tail::contains);
            }
        }
        boolean eosEnd = eos.contains(last);
        if (!stopped && !eosEnd && gen.length < p.maxNewTokens()) {
            return null;
        }
        String text = tokenizer.decode(eosEnd ? Arrays.copyOf(gen, gen.length - 1) : gen, true);
        int cut = firstStop(text, p.stop());
        if (cut < 0 && stopped) {
            // The windowed text matched where the whole decode does not: keep what was matched.
            text = r.detokenizer.text().toString();
            cut = firstStop(text, p.stop());
        }
        if (cut >= 0) {
            return new GeneratedText(
                    r.req.promptIds(), gen, text.substring(0, cut), GeneratedText.STOP, r.logprobs, r.preemptions);
        }
        return new GeneratedText(
                r.req.promptIds(),
                gen,
                text,
                eosEnd ? GeneratedText.STOP : GeneratedText.LENGTH,
                r.logprobs,
                r.preemptions);
    }

    private static int longest(List<String> stops) {
        return stops.stream().mapToInt(String::length).max().orElse(0);
    }

    /** Where the first of the stop strings starts in {@code text}, or -1. */
    private static int firstStop(String text, List<String> stops) {
        int cut = -1;
        for (String s : stops) {
            int at = text.indexOf(s);
            if (at >= 0 && (cut < 0 || at < cut)) {
                cut = at;
            }
        }
        return cut;
    }
}

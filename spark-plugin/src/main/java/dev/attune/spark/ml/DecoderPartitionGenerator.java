package dev.attune.spark.ml;

import dev.attune.model.DecoderModel;
import dev.attune.model.ModelFormatException;
import dev.attune.model.prompt.ChatMessage;
import dev.attune.runtime.AttuneRuntime;
import dev.attune.runtime.DeviceSlot;
import dev.attune.runtime.OnError;
import dev.attune.runtime.RowFailure;
import dev.attune.spark.ExecutorRuntime;
import dev.attune.task.PartitionScorer;
import dev.attune.task.RowTooLongException;
import dev.attune.task.generate.GeneratedText;
import dev.attune.task.generate.GenerationRequest;
import dev.attune.task.generate.Generator;
import dev.attune.task.generate.NonFiniteLogitsException;
import dev.attune.task.generate.SamplingParams;
import dev.attune.task.generate.TextGeneration;
import java.util.ArrayList;
import java.util.List;
import org.apache.spark.TaskContext;

/**
 * Generates text for the rows of one partition chunk with a decoder, for {@link TextGenerator},
 * the SQL function {@code attune_generate} and the scoring job's {@code --task generate}: the
 * chunk's rows go through one {@link TextGeneration} (continuous batching over a paged KV cache
 * sized from the device's memory) on the device the task uses, with the row-level error policy of
 * the scorers ({@link DecoderPartitionScorer}):
 * <ul>
 *   <li>every prompt (or chat message) is checked first ({@code spark.attune.maxTextChars},
 *   unpaired surrogates); chat messages are rendered by the model's template, and a template that
 *   fails, an empty prompt, or a prompt whose tokens and {@code maxNewTokens} exceed the context
 *   are that row's error;</li>
 *   <li>a row whose cache cannot fit the device even alone, or whose logits are not finite, is
 *   that row's error, and the others are generated again without it (each row's tokens do not
 *   depend on the others', so they come out the same);</li>
 *   <li>{@code onError=fail}: the first failing row fails the task, named by its id;
 *   {@code onError=null}: it gets a null result and the error.</li>
 * </ul>
 *
 * <p>Each row's random stream is seeded from the sampling seed and the row's key (the key column,
 * else the prompt itself), so a retried task or another partitioning gives every row the same
 * text. Every pass is counted in the executor's generation metrics.
 *
 * <p>Threading: one instance per task thread; the device's permits are held while a chunk runs.
 */
public final class DecoderPartitionGenerator {

    /** A row to generate for: a prompt, or chat messages (then the prompt is null), and its key (or null). */
    public record Request(String prompt, List<ChatMessage> messages, String key) {}

    /** One row's result (null for a null prompt or a failed row), the device and path, the error. */
    public record Result(GeneratedText text, String device, String path, String error) {}

    private final AttuneRuntime runtime;
    private final String modelSpec;
    private final SamplingParams params;
    private final int maxActive;
    private final int passTokens;
    private final OnError onError;
    private final boolean truncateLeft;

    /**
     * @param maxActive  sequences decoded together; 0 = spark.attune.batch.size, and when that is 0 too, 16
     * @param passTokens tokens one pass feeds at most; 0 = spark.attune.batch.maxTokens, at most {@link #MAX_PASS_TOKENS}
     * @param truncateLeft a prompt that leaves no room for {@code maxNewTokens} in the context keeps
     *     its last tokens instead of being a row error
     */
    public DecoderPartitionGenerator(
            AttuneRuntime runtime,
            String modelSpec,
            SamplingParams params,
            int maxActive,
            int passTokens,
            OnError onError,
            boolean truncateLeft) {
        this.truncateLeft = truncateLeft;
        this.runtime = runtime;
        this.modelSpec = modelSpec;
        this.params = params;
        int configured = runtime.settings().batchSize();
        this.maxActive = maxActive > 0 ? maxActive : configured > 0 ? configured : DEFAULT_ACTIVE;
        this.passTokens = Math.max(
                this.maxActive,
                passTokens > 0 ? passTokens : Math.min(runtime.settings().batchMaxTokens(), MAX_PASS_TOKENS));
        this.onError = onError;
    }

    /** Sequences decoded together when neither the caller nor spark.attune.batch.size says. */
    public static final int DEFAULT_ACTIVE = 16;

    /**
     * The default pass budget's ceiling: a prompt longer than this is prefilled in chunks, so one
     * pass's activations stay small next to the KV cache.
     */
    public static final int MAX_PASS_TOKENS = 2048;

    /** Generates for each row, in input order; a null prompt (and no messages) gives a null result. */
    public List<Result> generate(List<Request> rows, List<String> ids, TaskContext tc) {
        DecoderModel model = runtime.decoder(modelSpec); // an encoder, or a broken model, fails the task
        DeviceSlot slot = runtime.slotFor(ExecutorRuntime.placement(runtime, tc));
        AttuneRuntime.DecoderRunner dr = runtime.decoderRunner(slot);
        String device = dr.runner().device().label();
        int maxChars = runtime.settings().maxTextChars();
        int context = model.config().maxPositions();
        Result[] out = new Result[rows.size()];
        List<Integer> todo = new ArrayList<>();
        List<GenerationRequest> requests = new ArrayList<>();
        for (int i = 0; i < rows.size(); i++) {
            Request r = rows.get(i);
            if (r == null || (r.prompt() == null && r.messages() == null)) {
                out[i] = new Result(null, null, null, null);
                continue;
            }
            String problem = null;
            int[] promptIds = null;
            try {
                problem = check(r, maxChars);
                if (problem == null) {
                    String prompt = r.messages() != null ? model.chatPrompt(r.messages()) : r.prompt();
                    promptIds = model.tokenize(prompt);
                    if (promptIds.length == 0) {
                        problem = "the prompt is empty and the tokenizer adds no token to start from";
                    } else if (promptIds.length + params.maxNewTokens() > context
                            && truncateLeft
                            && context > params.maxNewTokens()) {
                        // (tokens, ) the last ones that leave room for the new tokens
                        promptIds = java.util.Arrays.copyOfRange(
                                promptIds, promptIds.length - (context - params.maxNewTokens()), promptIds.length);
                    } else if (promptIds.length + params.maxNewTokens() > context) {
                        problem = promptIds.length + " prompt tokens and up to " + params.maxNewTokens()
                                + " new ones exceed the model's context of " + context;
                    }
                    if (problem == null) {
                        requests.add(new GenerationRequest(promptIds, params, r.key() != null ? r.key() : prompt));
                        todo.add(i);
                    }
                }
            } catch (ModelFormatException e) {
                throw e; // a model without a chat template, or a tokenizer beyond the vocabulary: not a row's fault
            } catch (RuntimeException e) {
                problem = e.getMessage(); // a template that fails to render this row's messages
            }
            if (problem != null) {
                out[i] = fail(ids.get(i), problem, null, device);
            }
        }
        if (todo.isEmpty()) {
            return List.of(out);
        }
        Gauges gauges = new Gauges();
        slot.permits().acquireUninterruptibly();
        try {
            TextGeneration generation =
                    new TextGeneration(model, dr.runner(), runtime.threadsForThisTask(), maxActive, passTokens, gauges);
            while (!todo.isEmpty()) {
                try {
                    TextGeneration.Result result = generation.generate(requests);
                    gauges.path = result.choice().path().id();
                    String path = result.choice().path().id();
                    for (int j = 0; j < todo.size(); j++) {
                        out[todo.get(j)] = new Result(result.rows().get(j), device, path, null);
                    }
                    runtime.metrics().generatedRows(todo.size());
                    todo.clear();
                } catch (RowTooLongException | NonFiniteLogitsException e) {
                    int j = e instanceof RowTooLongException t ? t.row() : ((NonFiniteLogitsException) e).row();
                    int row = todo.get(j);
                    String why = e.getMessage().replaceFirst("^row \\d+: ", "");
                    if (e instanceof NonFiniteLogitsException) {
                        why = "model " + modelSpec + ": " + why;
                    }
                    out[row] = fail(ids.get(row), why, e, device);
                    todo.remove(j);
                    requests.remove(j);
                }
            }
        } finally {
            gauges.close();
            slot.permits().release();
        }
        return List.of(out);
    }

    /** The {@link TextGenerator#GENERATION_TYPE} value of a result (null for null). */
    public static org.apache.spark.sql.Row generationValue(GeneratedText g) {
        if (g == null) {
            return null;
        }
        List<Integer> tokens = new ArrayList<>(g.tokens().length);
        for (int t : g.tokens()) {
            tokens.add(t);
        }
        List<Float> logprobs = new ArrayList<>(g.logprobs().length);
        for (float lp : g.logprobs()) {
            logprobs.add(lp);
        }
        return org.apache.spark.sql.RowFactory.create(
                g.text(),
                scala.jdk.javaapi.CollectionConverters.asScala(tokens).toSeq(),
                g.promptIds().length,
                g.tokens().length,
                g.finishReason(),
                scala.jdk.javaapi.CollectionConverters.asScala(logprobs).toSeq());
    }

    /** The metrics of this chunk's passes; the JVM-wide gauges move by what this generation adds. */
    private final class Gauges implements Generator.Listener {
        String path = "generate";
        long active;
        long blocks;

        @Override
        public void pass(int activeRows, int decodeTokens, int prefillTokens, int blocksInUse, long nanos) {
            runtime.metrics()
                    .generationPass(
                            path, decodeTokens, prefillTokens, nanos, activeRows - active, blocksInUse - blocks);
            active = activeRows;
            blocks = blocksInUse;
        }

        @Override
        public void preempted() {
            runtime.metrics().preempted();
        }

        @Override
        public void sharedPrefix(int tokens) {
            runtime.metrics().sharedPrefix(tokens);
        }

        void close() {
            runtime.metrics().generationGauges(-active, -blocks);
            active = 0;
            blocks = 0;
        }
    }

    private static String check(Request r, int maxChars) {
        if (r.messages() == null) {
            String p = PartitionScorer.check(r.prompt(), maxChars);
            return p == null ? null : "prompt: " + p;
        }
        if (r.messages().isEmpty()) {
            return "no chat messages";
        }
        for (int m = 0; m < r.messages().size(); m++) {
            ChatMessage msg = r.messages().get(m);
            if (msg == null || msg.role() == null || msg.content() == null) {
                return "chat message " + m + " needs a role and a content";
            }
            String p = PartitionScorer.check(msg.content(), maxChars);
            if (p != null) {
                return "chat message " + m + ": " + p;
            }
        }
        return null;
    }

    private Result fail(String id, String problem, Throwable cause, String device) {
        runtime.metrics().failedRow();
        String msg = "row " + id + ": " + problem;
        if (onError == OnError.FAIL) {
            throw new RowFailure(msg + " (set spark.attune.onError=null to keep going with a null result)", cause);
        }
        return new Result(null, device, null, msg);
    }
}

package dev.attune.task.generate;

import dev.attune.kernels.attention.MaskKind;
import dev.attune.kernels.cpu.CpuThreads;
import dev.attune.kernels.device.DeviceInfo;
import dev.attune.kernels.kv.KvBlockPool;
import dev.attune.kernels.kv.KvShape;
import dev.attune.kernels.memory.DecoderShape;
import dev.attune.kernels.memory.MemoryPlanner;
import dev.attune.kernels.select.AttentionChoice;
import dev.attune.kernels.select.AttentionRequest;
import dev.attune.kernels.select.ComputeDtype;
import dev.attune.model.DecoderModel;
import dev.attune.model.llama.LlamaGraph;
import dev.attune.runtime.DeviceRunner;
import dev.attune.runtime.PassOutcome;
import dev.attune.task.RowTooLongException;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;

/**
 * Generation of a list of rows on one device: the device-bound part of a generation task.
 * Chooses the path and dtype once for the list (a causal decoder request of its longest
 * sequence), sizes the KV block pool from the device's memory (what the weights, one pass's
 * activations and the logits leave, within the runner's memory fraction; never more than the
 * rows can use), and runs a {@link Generator}. An fp16 overflow that the precision policy chose
 * re-runs the whole list in fp32, so every row of it is computed in one precision.
 *
 * <p>Threading: one call at a time per instance (a task's thread); the runner may be shared.
 * Failure: a row longer than the context, or one that cannot fit the cache alone, raises
 * {@link RowTooLongException} naming it.
 */
public final class TextGeneration {

    /** Tokens per KV block. */
    public static final int BLOCK_SIZE = 16;

    private final DecoderModel model;
    private final DeviceRunner runner;
    private final CpuThreads threads;
    private final int maxActive;
    private final int passTokens;
    private final Generator.Listener listener;

    /** The generated rows and the path that generated them. */
    public record Result(List<GeneratedText> rows, AttentionChoice choice, int kvBlocks) {}

    public TextGeneration(DecoderModel model, DeviceRunner runner, CpuThreads threads, int maxActive, int passTokens) {
        this(model, runner, threads, maxActive, passTokens, Generator.Listener.NONE);
    }

    /** As above, telling {@code listener} what each generation pass did (metrics). */
    public TextGeneration(
            DecoderModel model,
            DeviceRunner runner,
            CpuThreads threads,
            int maxActive,
            int passTokens,
            Generator.Listener listener) {
        this.listener = listener;
        this.model = model;
        this.runner = runner;
        this.threads = threads;
        this.maxActive = maxActive;
        this.passTokens = Math.max(passTokens, maxActive);
    }

    public Result generate(List<GenerationRequest> rows) {
        if (rows.isEmpty()) {
            return new Result(List.of(), null, 0);
        }
        int context = model.config().maxPositions();
        int longest = 1;
        for (int i = 0; i < rows.size(); i++) {
            GenerationRequest r = rows.get(i);
            int n = r.promptIds().length + r.params().maxNewTokens();
            if (n > context) {
                throw new RowTooLongException(
                        i,
                        "row " + i + ": " + r.promptIds().length + " prompt tokens and up to "
                                + r.params().maxNewTokens() + " new ones exceed the model's context of " + context);
            }
            longest = Math.max(longest, n);
        }
        AttentionRequest request = new AttentionRequest(
                model.storedDtype(),
                model.config().heads(),
                model.config().headDim(),
                Math.min(maxActive, rows.size()),
                longest,
                MaskKind.CAUSAL,
                model.config().kvHeads(),
                model.config().slidingWindow(),
                false);
        LlamaGraph graph = model.graph();
        PassOutcome<Result> o = runner.run(request, threads, (first, choice) -> {
            LlamaGraph.Resident w = runner.resident(model, choice.dtype(), graph::residentOn);
            KvShape shape = graph.kvShape(BLOCK_SIZE);
            int blocks = blocks(rows, shape, choice.dtype());
            KvBlockPool pool = new KvBlockPool(shape, blocks);
            Generator g = new Generator(
                    graph,
                    w,
                    () -> runner.opsFor(choice, threads),
                    pool,
                    model.tokenizer(),
                    new HashSet<>(model.config().eosTokenIds()),
                    maxActive,
                    passTokens,
                    listener);
            return new Result(g.generate(rows), choice, blocks);
        });
        Result r = o.value();
        return new Result(r.rows(), o.choice(), r.kvBlocks());
    }

    /**
     * KV blocks for the pool: what the device's memory budget leaves after the weights (on a GPU),
     * one pass's activations and the logits, in the compute dtype; at most what the {@code
     * maxActive} largest rows can hold at once.
     */
    private int blocks(List<GenerationRequest> rows, KvShape shape, ComputeDtype dtype) {
        DeviceInfo d = runner.device();
        long free = d.isGpu() ? d.freeMemory() : DeviceInfo.cpu().freeMemory();
        // The CPU cache is fp32 in the heap whatever the compute dtype.
        ComputeDtype stored = d.isGpu() && !d.simulated() ? dtype : ComputeDtype.FP32;
        int budget = shape.blocksFor(
                kvBudgetBytes(
                        free,
                        d.isGpu(),
                        model.shape(),
                        dtype,
                        passTokens,
                        maxActive,
                        runner.memoryFraction(),
                        runner.concurrentTasks()),
                stored);
        int[] need = rows.stream()
                .mapToInt(r -> shape.blocksOf(r.promptIds().length + r.params().maxNewTokens()))
                .sorted()
                .toArray();
        int useful = 0;
        for (int i = need.length - 1; i >= Math.max(0, need.length - maxActive); i--) {
            useful += need[i];
        }
        int max = Arrays.stream(need).max().orElse(1);
        if (budget < max) {
            throw new RowTooLongException(
                    indexOfLongest(rows, shape, max),
                    "a row needs " + max + " KV blocks of " + BLOCK_SIZE + " tokens; " + d.label() + " has memory for "
                            + Math.max(0, budget));
        }
        return Math.min(budget, useful);
    }

    /**
     * Bytes left for one task's KV cache on a device with {@code free} bytes shared by
     * {@code concurrentTasks} tasks: {@code memoryFraction} of them, less the weights (on a GPU,
     * resident once for all the tasks; the CPU's are the model's own heap arrays), divided between
     * the tasks ({@link MemoryPlanner#taskBudget}), less this task's pass of {@code passTokens}
     * tokens of activations and the logits of {@code maxActive} rows; negative when nothing is left.
     */
    public static long kvBudgetBytes(
            long free,
            boolean gpu,
            DecoderShape shape,
            ComputeDtype dtype,
            int passTokens,
            int maxActive,
            double memoryFraction,
            int concurrentTasks) {
        long weights = gpu ? MemoryPlanner.weightBytes(shape, dtype) : 0;
        long activations = MemoryPlanner.decoderBytesPerToken(shape, dtype) * passTokens;
        long logits = (long) maxActive * shape.vocab() * Float.BYTES;
        return (long) MemoryPlanner.taskBudget(free, memoryFraction, weights, concurrentTasks) - activations - logits;
    }

    private static int indexOfLongest(List<GenerationRequest> rows, KvShape shape, int blocks) {
        for (int i = 0; i < rows.size(); i++) {
            GenerationRequest r = rows.get(i);
            if (shape.blocksOf(r.promptIds().length + r.params().maxNewTokens()) == blocks) {
                return i;
            }
        }
        return 0;
    }
}

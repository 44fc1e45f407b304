package dev.attune.task;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.attune.kernels.cpu.CpuThreads;
import dev.attune.kernels.device.ComputeCapability;
import dev.attune.kernels.device.DeviceInfo;
import dev.attune.kernels.memory.DecoderShape;
import dev.attune.kernels.memory.MemoryPlanner;
import dev.attune.kernels.select.ComputeDtype;
import dev.attune.kernels.select.UserOverrides;
import dev.attune.model.DecoderModel;
import dev.attune.model.llama.RandomDecoderCheckpoint;
import dev.attune.model.llama.RandomDecoderCheckpoint.ModelType;
import dev.attune.runtime.DeviceRunner;
import dev.attune.task.generate.TextGeneration;
import dev.attune.testing.decoder.TestTokenizers;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Decoder batches are sized from the device's memory: on a simulated GPU with little memory free,
 * batches hold no more tokens than its budget allows (weights and logit scratch taken off first),
 * and a row whose activations cannot fit alone is that row's error, naming it, the device and
 * the sizes, rather than an out-of-memory crash.
 */
class DecoderMemoryPlanTest {

    @TempDir
    static Path tmp;

    private static DecoderModel model;
    private static CpuThreads threads;

    @BeforeAll
    static void load() throws Exception {
        Path dir = tmp.resolve("llama");
        RandomDecoderCheckpoint.builder(ModelType.LLAMA)
                .numHeads(4)
                .numKvHeads(2)
                .headDim(16)
                .build()
                .write(dir, TestTokenizers.dir("llama2"));
        model = DecoderModel.load(dir);
        threads = new CpuThreads(2);
    }

    @AfterAll
    static void close() {
        model.close();
        threads.close();
    }

    /** A simulated T4-class GPU with only {@code freeBytes} free. */
    private static DeviceInfo smallGpu(long freeBytes) {
        return new DeviceInfo(
                DeviceInfo.Kind.GPU,
                "Tiny T4",
                0,
                "",
                new ComputeCapability(7, 5),
                Math.max(64L << 20, freeBytes),
                freeBytes,
                40,
                64 * 1024,
                13000,
                true);
    }

    @Test
    void batchesStayWithinTheDevicesTokenBudgetAndARowThatCannotFitIsNamed() {
        long perToken = MemoryPlanner.decoderBytesPerToken(model.shape(), dev.attune.kernels.select.ComputeDtype.FP16);
        long weights = MemoryPlanner.weightBytes(model.shape(), dev.attune.kernels.select.ComputeDtype.FP16);
        long logits = (long) dev.attune.kernels.ops.CpuTensorOps.LOGIT_ROWS
                * model.config().vocabSize()
                * Float.BYTES;
        int budgetTokens = 120;
        long free = (long) Math.ceil((weights + logits + budgetTokens * perToken) / 0.9);
        DeviceRunner runner = new DeviceRunner(smallGpu(free), UserOverrides.NONE, 0.9);
        LogLikelihood scorer = new LogLikelihood(model, runner, threads, 64, 4096, false);
        List<ScoreRequest> rows = new ArrayList<>();
        for (int i = 0; i < 30; i++) {
            rows.add(ScoreRequest.text("Row number " + i + " is a short sentence about memory budgets."));
        }
        List<Integer> batchTokens = new ArrayList<>();
        SequenceScore[] s = scorer.score(rows, (n, tokens, c, nanos) -> batchTokens.add(tokens));
        assertEquals(30, s.length);
        assertTrue(batchTokens.size() > 1, "30 rows do not fit one batch of " + budgetTokens + " tokens");
        for (int t : batchTokens) {
            assertTrue(t <= budgetTokens, "a batch of " + t + " tokens exceeds the budget of " + budgetTokens);
        }
        assertEquals("fp16", s[0].dtype());

        // A prompt shared by more continuations than one batch holds is cut into several batches,
        // each with the prompt once; every row scores as it does alone.
        List<ScoreRequest> labels = new ArrayList<>();
        for (int i = 0; i < 20; i++) {
            labels.add(new ScoreRequest(
                    "A prompt of some length that every candidate label continues:", " candidate label number " + i));
        }
        batchTokens.clear();
        SequenceScore[] shared = scorer.score(labels, (n, tokens, c, nanos) -> batchTokens.add(tokens));
        assertTrue(
                batchTokens.size() > 1 && batchTokens.stream().allMatch(t -> t <= budgetTokens),
                batchTokens.toString());
        for (int i = 0; i < labels.size(); i += 7) {
            SequenceScore alone = scorer.score(List.of(labels.get(i)))[0];
            assertEquals(alone.logprob(), shared[i].logprob(), 1e-4, "label " + i);
        }

        List<ScoreRequest> withLong = new ArrayList<>(rows.subList(0, 3));
        withLong.add(ScoreRequest.text("word ".repeat(400)));
        RowTooLongException e = assertThrows(RowTooLongException.class, () -> scorer.score(withLong));
        assertEquals(3, e.row());
        assertTrue(e.getMessage().contains("Tiny T4") && e.getMessage().contains("MiB"), e.getMessage());
    }

    @Test
    void onTheCpuTheBudgetIsTheHeapAndTheUsersLimitCaps() {
        DeviceRunner runner = new DeviceRunner(DeviceInfo.cpu(), UserOverrides.NONE, 0.9);
        List<Integer> batchTokens = new ArrayList<>();
        List<ScoreRequest> rows = new ArrayList<>();
        for (int i = 0; i < 12; i++) {
            rows.add(ScoreRequest.text("Another row, number " + i + "."));
        }
        new LogLikelihood(model, runner, threads, 64, 40, false).score(rows, (n, t, c, nanos) -> batchTokens.add(t));
        for (int t : batchTokens) {
            assertTrue(t <= 40, "maxTokens caps the heap's budget: " + t);
        }
    }

    @Test
    void tasksSharingAGpuEachGetTheirShareOfWhatTheWeightsLeave() {
        ComputeDtype fp16 = ComputeDtype.FP16;
        long perToken = MemoryPlanner.decoderBytesPerToken(model.shape(), fp16);
        long weights = MemoryPlanner.weightBytes(model.shape(), fp16);
        long logits = (long) dev.attune.kernels.ops.CpuTensorOps.LOGIT_ROWS
                * model.config().vocabSize()
                * Float.BYTES;
        // What the weights leave is two tasks' logits and 60 tokens each: each of two tasks may
        // batch 60 tokens; one task alone gets the other's share too.
        int shareTokens = 60;
        long free = (long) Math.ceil((weights + 2 * (logits + shareTokens * perToken)) / 0.9);
        assertTrue(weights / 2 > shareTokens * perToken, "dividing the weights as well would show");
        List<ScoreRequest> rows = new ArrayList<>();
        for (int i = 0; i < 30; i++) {
            rows.add(ScoreRequest.text("Row number " + i + " is a short sentence about memory budgets."));
        }
        List<Integer> shared = new ArrayList<>();
        new LogLikelihood(model, new DeviceRunner(smallGpu(free), UserOverrides.NONE, 0.9, 2), threads, 64, 4096, false)
                .score(rows, (n, tokens, c, nanos) -> shared.add(tokens));
        List<Integer> alone = new ArrayList<>();
        new LogLikelihood(model, new DeviceRunner(smallGpu(free), UserOverrides.NONE, 0.9, 1), threads, 64, 4096, false)
                .score(rows, (n, tokens, c, nanos) -> alone.add(tokens));
        int sharedMax = shared.stream().mapToInt(Integer::intValue).max().orElseThrow();
        int aloneMax = alone.stream().mapToInt(Integer::intValue).max().orElseThrow();
        assertTrue(sharedMax <= shareTokens, "a batch of " + sharedMax + " tokens exceeds a task's " + shareTokens);
        assertTrue(aloneMax > shareTokens, "one task alone has the whole budget: " + alone);
        assertTrue(shared.size() > alone.size(), shared + " vs " + alone);
    }

    @Test
    void theKvBudgetIsATasksShareAfterTheWeightsAndBeforeItsOwnPass() {
        DecoderShape shape = model.shape();
        ComputeDtype fp16 = ComputeDtype.FP16;
        long free = 1L << 30;
        int pass = 256;
        int active = 4;
        long weights = MemoryPlanner.weightBytes(shape, fp16);
        long own = MemoryPlanner.decoderBytesPerToken(shape, fp16) * pass + (long) active * shape.vocab() * Float.BYTES;
        long one = TextGeneration.kvBudgetBytes(free, true, shape, fp16, pass, active, 0.9, 1);
        long two = TextGeneration.kvBudgetBytes(free, true, shape, fp16, pass, active, 0.9, 2);
        long four = TextGeneration.kvBudgetBytes(free, true, shape, fp16, pass, active, 0.9, 4);
        assertEquals((long) (free * 0.9 - weights) - own, one);
        assertEquals((long) ((free * 0.9 - weights) / 2) - own, two);
        assertEquals((long) ((free * 0.9 - weights) / 4) - own, four);
        // The CPU's weights are the model's own heap arrays: nothing comes off for them.
        assertEquals(
                (long) (free * 0.9 / 2) - own,
                TextGeneration.kvBudgetBytes(free, false, shape, fp16, pass, active, 0.9, 2));
        assertThrows(
                IllegalArgumentException.class,
                () -> TextGeneration.kvBudgetBytes(free, true, shape, fp16, pass, active, 0.9, 0));
    }
}

package dev.attune.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.attune.kernels.attention.CpuMathAttention;
import dev.attune.kernels.cpu.CpuThreads;
import dev.attune.kernels.cuda.CudaException;
import dev.attune.kernels.cuda.GpuOutOfMemoryException;
import dev.attune.kernels.cuda.KernelFailureException;
import dev.attune.kernels.cuda.KernelUnavailableException;
import dev.attune.kernels.cuda.launch.AttentionLaunch;
import dev.attune.kernels.cuda.launch.EncoderOpsLaunch;
import dev.attune.kernels.device.ComputeCapability;
import dev.attune.kernels.device.DeviceInfo;
import dev.attune.kernels.precision.PrecisionOverflowException;
import dev.attune.kernels.select.AttentionChoice;
import dev.attune.kernels.select.AttentionPath;
import dev.attune.kernels.select.ComputeDtype;
import dev.attune.kernels.select.UnsupportedPathException;
import dev.attune.kernels.select.UserOverrides;
import dev.attune.model.EncoderModel;
import dev.attune.model.bert.TokenBatch;
import dev.attune.task.EncoderScoring;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.function.Function;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The GPU runner's failure policy without a GPU: its forward function computes on the CPU and
 * throws the CUDA backend's real exception classes where a test wants the GPU to fail.
 */
class GpuDeviceRunnerTest {

    /** An A100 as the driver would report it: not simulated, so the runner treats it as real. */
    static final DeviceInfo A100 = new DeviceInfo(
            DeviceInfo.Kind.GPU,
            "NVIDIA A100-SXM4-40GB",
            0,
            "0000:07:00.0",
            ComputeCapability.SM80,
            40L << 30,
            39L << 30,
            108,
            163 * 1024,
            13000,
            false);

    static final String LABEL = A100.label();

    private static final List<String> TEXTS = List.of(
            "the first text",
            "a second, somewhat longer text to embed here",
            "third",
            "fourth one",
            "and a fifth text with several more words than the others have",
            "six",
            "seven seven");

    @TempDir
    static Path dir;

    private static EncoderModel model;
    private static CpuThreads threads;
    private static float[][] reference;

    @BeforeAll
    static void load() throws Exception {
        model = EncoderModel.load(PrecisionFallbackTest.tinyModel(dir, 0.2f));
        threads = new CpuThreads(2);
        reference = EncoderScoring.embed(model, TEXTS, 8, 4096, new CpuMathAttention(), threads);
    }

    @AfterAll
    static void close() {
        model.close();
        threads.close();
    }

    /** A "GPU" that computes on the CPU in fp32, and fails where {@code failure} says. */
    static final class FakeGpu implements GpuForward {
        final List<AttentionChoice> calls = Collections.synchronizedList(new ArrayList<>());
        final Function<Call, RuntimeException> failure;
        final List<ComputeDtype> retired = Collections.synchronizedList(new ArrayList<>());
        int trims;
        boolean closed;

        record Call(TokenBatch batch, AttentionChoice choice) {}

        FakeGpu(Function<Call, RuntimeException> failure) {
            this.failure = failure;
        }

        @Override
        public float[] forward(EncoderModel m, TokenBatch batch, AttentionChoice choice) {
            assertFalse(closed, "forward on a released backend");
            assertTrue(choice.path().isGpu(), "the GPU is asked to run " + choice.path());
            calls.add(choice);
            RuntimeException e = failure.apply(new Call(batch, choice));
            if (e != null) {
                throw e;
            }
            return m.encoder().forward(batch, new CpuMathAttention(), threads);
        }

        @Override
        public void trimPool() {
            trims++;
        }

        @Override
        public void retire(EncoderModel m, ComputeDtype dtype) {
            retired.add(dtype);
        }

        @Override
        public void close() {
            closed = true;
        }

        long callsOn(AttentionPath p) {
            synchronized (calls) {
                return calls.stream().filter(c -> c.path() == p).count();
            }
        }
    }

    static GpuOutOfMemoryException oom() {
        return new GpuOutOfMemoryException(
                "cuMemAlloc of 1 GiB failed: CUDA_ERROR_OUT_OF_MEMORY",
                2,
                "CUDA_ERROR_OUT_OF_MEMORY",
                LABEL,
                1L << 30,
                null);
    }

    static KernelFailureException failure(boolean contextLost) {
        return contextLost
                ? new KernelFailureException(
                        "kernel failed: CUDA_ERROR_ILLEGAL_ADDRESS",
                        700,
                        "CUDA_ERROR_ILLEGAL_ADDRESS",
                        LABEL,
                        true,
                        null)
                : new KernelFailureException(
                        "launch failed: CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES",
                        701,
                        "CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES",
                        LABEL,
                        false,
                        null);
    }

    static KernelUnavailableException unavailable(AttentionPath p) {
        return new KernelUnavailableException(
                "module for " + p + " refused by the driver",
                AttentionLaunch.moduleOf(p).orElseThrow(),
                CudaException.NO_RESULT,
                "",
                LABEL,
                null);
    }

    static GpuDeviceRunner runner(FakeGpu gpu, UserOverrides o) {
        return new GpuDeviceRunner(
                A100, o, 0.9, gpu, new DeviceRunner(DeviceInfo.cpu(), GpuDeviceRunner.hostOverrides(o), 0.9));
    }

    private static void assertMatchesReference(EncoderScoring.Embedding[] got) {
        assertEquals(TEXTS.size(), got.length);
        for (int i = 0; i < got.length; i++) {
            for (int c = 0; c < reference[i].length; c++) {
                assertEquals(reference[i][c], got[i].vector()[c], 1e-5, "text " + i + " component " + c);
            }
        }
    }

    @Test
    void outOfMemorySplitsTheBatchAndKeepsTheRowOrder() {
        FakeGpu gpu = new FakeGpu(c -> c.batch().rows() > 2 ? oom() : null);
        try (GpuDeviceRunner r = runner(gpu, UserOverrides.NONE)) {
            EncoderScoring.Embedding[] got = EncoderScoring.embed(model, TEXTS, 8, 4096, r, threads);
            assertMatchesReference(got);
            assertTrue(r.counters().oomSplits() >= 2, "7 rows need at least two splits to get to 2-row parts");
            assertEquals(r.counters().oomSplits(), gpu.trims, "the pool is trimmed before each split");
            assertEquals(0, r.counters().pathFallbacks());
            for (EncoderScoring.Embedding e : got) {
                assertTrue(AttentionPath.parse(e.path()).isGpu(), e.path());
            }
        }
    }

    @Test
    void aRowThatDoesNotFitAloneIsAnErrorNamingItsLengthAndTheDevice() {
        FakeGpu gpu = new FakeGpu(c -> oom());
        try (GpuDeviceRunner r = runner(gpu, UserOverrides.NONE)) {
            TokenBatch one = TokenBatch.pack(List.of(model.tokenizer().encode("a single row")));
            RowDoesNotFitException e = assertThrows(RowDoesNotFitException.class, () -> r.run(model, one, threads));
            assertTrue(e.getMessage().contains(one.tokens() + " tokens"), e.getMessage());
            assertTrue(e.getMessage().contains(LABEL), e.getMessage());
            assertEquals(2, gpu.calls.size(), "tried, trimmed, tried once more");
            assertEquals(2, gpu.trims);
            assertEquals(0, r.counters().oomSplits());
        }
    }

    @Test
    void aFailedKernelFallsToTheNextPathAndStaysExcludedOnThisDevice() {
        FakeGpu gpu = new FakeGpu(c -> c.choice().path() == AttentionPath.FLASH_SM80 ? failure(false) : null);
        try (GpuDeviceRunner r = runner(gpu, UserOverrides.NONE)) {
            assertEquals(
                    AttentionPath.FLASH_SM80,
                    r.choose(model, 4, 16, dev.attune.kernels.attention.MaskKind.PADDING)
                            .path());
            EncoderScoring.Embedding[] got = EncoderScoring.embed(model, TEXTS, 8, 4096, r, threads);
            assertMatchesReference(got);
            assertEquals(1, gpu.callsOn(AttentionPath.FLASH_SM80));
            assertEquals(1, r.counters().pathFallbacks());
            assertTrue(r.failedPaths().containsKey(AttentionPath.FLASH_SM80));
            for (EncoderScoring.Embedding e : got) {
                assertEquals("flash-sm75", e.path(), "fp16 on sm80 runs the Turing kernel next");
            }
            EncoderScoring.embed(model, TEXTS, 8, 4096, r, threads);
            assertEquals(1, gpu.callsOn(AttentionPath.FLASH_SM80), "a failed path is not tried again");
            assertEquals(1, r.counters().pathFallbacks());
            assertNotEquals(
                    AttentionPath.FLASH_SM80,
                    r.choose(model, 4, 16, dev.attune.kernels.attention.MaskKind.PADDING)
                            .path());
        }
    }

    @Test
    void withNoGpuPathLeftTheCpuComputes() {
        FakeGpu gpu = new FakeGpu(c -> unavailable(c.choice().path()));
        try (GpuDeviceRunner r = runner(gpu, UserOverrides.NONE)) {
            EncoderScoring.Embedding[] got = EncoderScoring.embed(model, TEXTS, 8, 4096, r, threads);
            assertMatchesReference(got);
            for (EncoderScoring.Embedding e : got) {
                assertFalse(AttentionPath.parse(e.path()).isGpu(), e.path());
                assertEquals("fp32", e.dtype());
            }
            assertEquals(4, r.failedPaths().size(), "every GPU path was tried once: " + r.failedPaths());
            assertEquals(4, r.counters().pathFallbacks());
            assertTrue(r.lostReason().isEmpty(), "the device itself is fine");
        }
    }

    @Test
    void aModuleEveryPathNeedsIsBlamedNotTheAttentionPath() {
        // The encoder's element-wise module refused: no attention path can help, so none is excluded.
        FakeGpu gpu = new FakeGpu(c -> new KernelUnavailableException(
                "encoder_ops refused by the driver: CUDA_ERROR_INVALID_PTX",
                EncoderOpsLaunch.MODULE,
                218,
                "CUDA_ERROR_INVALID_PTX",
                LABEL,
                null));
        try (GpuDeviceRunner r = runner(gpu, UserOverrides.NONE)) {
            EncoderScoring.Embedding[] got = EncoderScoring.embed(model, TEXTS, 8, 4096, r, threads);
            assertMatchesReference(got);
            assertEquals(1, gpu.calls.size(), "the first failure gives the device up, no path after path");
            assertTrue(r.failedPaths().isEmpty(), "no attention path is blamed: " + r.failedPaths());
            String reason = r.lostReason().orElseThrow();
            assertTrue(reason.contains("kernel module encoder_ops"), reason);
            assertTrue(reason.contains("CUDA_ERROR_INVALID_PTX"), reason);
            assertTrue(gpu.closed, "the backend is released once nothing runs on it");
            for (EncoderScoring.Embedding e : got) {
                assertFalse(AttentionPath.parse(e.path()).isGpu(), e.path());
            }
        }
    }

    @Test
    void aLaunchFailureInTheAttentionPathsOwnModuleExcludesThatPath() {
        String flash = AttentionLaunch.moduleOf(AttentionPath.FLASH_SM80).orElseThrow();
        FakeGpu gpu = new FakeGpu(c -> c.choice().path() == AttentionPath.FLASH_SM80
                ? new KernelFailureException(
                        "cuLaunchKernel failed: CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES",
                        flash,
                        701,
                        "CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES",
                        LABEL,
                        false,
                        null)
                : null);
        try (GpuDeviceRunner r = runner(gpu, UserOverrides.NONE)) {
            assertMatchesReference(EncoderScoring.embed(model, TEXTS, 8, 4096, r, threads));
            assertEquals(
                    java.util.Set.of(AttentionPath.FLASH_SM80), r.failedPaths().keySet());
            assertTrue(r.lostReason().isEmpty(), "the device itself is fine");
        }
    }

    @Test
    void aLostContextMovesThisAndLaterWorkToTheCpuAndReleasesTheBackend() {
        FakeGpu gpu = new FakeGpu(c -> failure(true));
        try (GpuDeviceRunner r = runner(gpu, UserOverrides.NONE)) {
            EncoderScoring.Embedding[] got = EncoderScoring.embed(model, TEXTS, 8, 4096, r, threads);
            assertMatchesReference(got);
            int calls = gpu.calls.size();
            assertEquals(1, calls, "the first failure loses the device");
            assertTrue(gpu.closed, "a lost context is released as soon as nothing runs on it");
            assertTrue(
                    r.lostReason().orElseThrow().contains("CUDA_ERROR_ILLEGAL_ADDRESS"),
                    r.lostReason().orElseThrow());
            for (EncoderScoring.Embedding e : got) {
                assertFalse(AttentionPath.parse(e.path()).isGpu(), e.path());
            }
            EncoderScoring.embed(model, TEXTS, 8, 4096, r, threads);
            assertEquals(calls, gpu.calls.size(), "a lost device gets no more work");
            assertEquals(1, r.counters().pathFallbacks());
        }
    }

    @Test
    void fp16OverflowReRunsInFp32AndIsCounted() {
        FakeGpu gpu = new FakeGpu(c -> c.choice().dtype() == ComputeDtype.FP16
                ? new PrecisionOverflowException("QKV projection holds 3 values beyond fp16's range (65504)")
                : null);
        try (GpuDeviceRunner r = runner(gpu, UserOverrides.NONE)) {
            TokenBatch batch = TokenBatch.pack(List.of(
                    model.tokenizer().encode("overflow"), model.tokenizer().encode("two")));
            BatchOutcome o = r.run(model, batch, threads);
            assertTrue(o.precisionFallback());
            assertEquals(ComputeDtype.FP32, o.choice().dtype());
            assertTrue(o.choice().path().isGpu());
            assertTrue(
                    o.choice().reason().contains("fp16 overflowed"), o.choice().reason());
            assertEquals(1, r.counters().precisionFallbacks());
            assertEquals(List.of(ComputeDtype.FP16), gpu.retired, "the fp16 copy is dropped");
            // The next batch of the model goes straight to fp32: one forward, no second overflow.
            int calls = gpu.calls.size();
            BatchOutcome next =
                    r.run(model, TokenBatch.pack(List.of(model.tokenizer().encode("next"))), threads);
            assertEquals(calls + 1, gpu.calls.size());
            assertEquals(ComputeDtype.FP32, next.choice().dtype());
            assertFalse(next.precisionFallback(), "not re-run: it ran in fp32 at once");
            assertTrue(next.choice().reason().contains("earlier"), next.choice().reason());
            assertEquals(1, r.counters().precisionFallbacks());
            assertEquals(List.of(ComputeDtype.FP16), gpu.retired, "retired once");
        }
        FakeGpu forced =
                new FakeGpu(c -> new PrecisionOverflowException("QKV projection holds 3 values beyond fp16's range"));
        try (GpuDeviceRunner r = runner(forced, UserOverrides.NONE.withDtype(ComputeDtype.FP16))) {
            TokenBatch batch = TokenBatch.pack(List.of(model.tokenizer().encode("overflow")));
            assertThrows(
                    PrecisionOverflowException.class,
                    () -> r.run(model, batch, threads),
                    "a dtype the user set is not changed behind their back");
        }
    }

    @Test
    void partsOfASplitBatchReportWhatRanThem() {
        int overflowing = model.tokenizer().encode(TEXTS.get(1)).length();
        FakeGpu gpu = new FakeGpu(c -> c.batch().rows() > 1
                ? oom()
                : c.batch().tokens() == overflowing && c.choice().dtype() == ComputeDtype.FP16
                        ? new PrecisionOverflowException("feed-forward output holds 1 value beyond fp16's range")
                        : null);
        try (GpuDeviceRunner r = runner(gpu, UserOverrides.NONE)) {
            EncoderScoring.Embedding[] got = EncoderScoring.embed(model, TEXTS, 8, 4096, r, threads);
            assertMatchesReference(got);
            List<AttentionChoice> calls = List.copyOf(gpu.calls);
            int firstFp32 = 0;
            while (firstFp32 < calls.size() && calls.get(firstFp32).dtype() == ComputeDtype.FP16) {
                firstFp32++;
            }
            // Up to the overflow the GPU ran fp16; from its re-run on, fp32 only (the model stays there).
            assertTrue(firstFp32 > 0 && firstFp32 < calls.size(), calls.toString());
            for (AttentionChoice c : calls.subList(firstFp32, calls.size())) {
                assertEquals(ComputeDtype.FP32, c.dtype(), calls.toString());
            }
            for (int i = 0; i < TEXTS.size(); i++) {
                int len = model.tokenizer().encode(TEXTS.get(i)).length();
                if (len == overflowing) {
                    assertEquals("fp32", got[i].dtype(), "text " + i);
                }
            }
            assertEquals(List.of(ComputeDtype.FP16), gpu.retired);
        }
    }

    @Test
    void aForcedPathThatFailsIsAnErrorNotAFallback() {
        FakeGpu gpu = new FakeGpu(c -> unavailable(c.choice().path()));
        try (GpuDeviceRunner r = runner(gpu, UserOverrides.force(AttentionPath.FLASH_SM80))) {
            UnsupportedPathException e = assertThrows(
                    UnsupportedPathException.class, () -> EncoderScoring.embed(model, TEXTS, 8, 4096, r, threads));
            assertTrue(e.getMessage().contains("flash-sm80") && e.getMessage().contains(LABEL), e.getMessage());
            assertEquals(1, gpu.calls.size());
        }
    }

    @Test
    void simulatedOrCpuDevicesAreRefused() {
        FakeGpu gpu = new FakeGpu(c -> null);
        assertThrows(
                IllegalArgumentException.class,
                () -> new GpuDeviceRunner(
                        DeviceInfo.cpu(),
                        UserOverrides.NONE,
                        0.9,
                        gpu,
                        new DeviceRunner(DeviceInfo.cpu(), UserOverrides.NONE, 0.9)));
    }
}

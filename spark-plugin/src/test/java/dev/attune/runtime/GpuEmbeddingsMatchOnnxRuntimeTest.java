package dev.attune.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.attune.kernels.attention.MaskKind;
import dev.attune.kernels.cpu.CpuThreads;
import dev.attune.kernels.cuda.CudaBackend;
import dev.attune.kernels.cuda.CudaSession;
import dev.attune.kernels.cuda.GpuArray;
import dev.attune.kernels.device.ComputeCapability;
import dev.attune.kernels.device.DeviceInfo;
import dev.attune.kernels.device.GpuProbe;
import dev.attune.kernels.select.AttentionPath;
import dev.attune.kernels.select.AttentionRequest;
import dev.attune.kernels.select.AttentionSelector;
import dev.attune.kernels.select.ComputeDtype;
import dev.attune.kernels.select.KernelSupport;
import dev.attune.kernels.select.UserOverrides;
import dev.attune.model.EncoderModel;
import dev.attune.model.bert.TokenBatch;
import dev.attune.model.builtin.BuiltinModel;
import dev.attune.model.builtin.BuiltinModels;
import dev.attune.model.tokenizer.TokenizedText;
import dev.attune.task.EncoderScoring;
import dev.attune.testing.OnnxReference;
import dev.attune.testing.TestTexts;
import dev.attune.testing.Vectors;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

/**
 * The real models embedded on a real GPU, on every attention path this GPU runs, in fp32, fp16
 * and (sm80+) bf16, against ONNX Runtime on the CPU: cosine similarity of every row's vector at
 * least 0.999. Also a real out-of-memory: with most of the device's memory held, a large batch is
 * split until it fits and its vectors still match.
 *
 * <p>Needs a CUDA GPU and driver: tagged {@code gpu}, excluded from the default build.
 */
@Tag("gpu")
class GpuEmbeddingsMatchOnnxRuntimeTest {

    private static final List<String> TEXTS = TestTexts.VARIED.subList(0, 32);
    private static final double MIN_COSINE = 0.999;

    private static DeviceInfo gpu;
    private static CudaBackend backend;
    private static CudaGpuForward forward;
    private static CpuThreads threads;
    private static final Map<BuiltinModel, EncoderModel> MODELS = new EnumMap<>(BuiltinModel.class);
    private static final Map<BuiltinModel, float[][]> REFERENCE = new EnumMap<>(BuiltinModel.class);

    @BeforeAll
    static void open() throws Exception {
        List<DeviceInfo> gpus = GpuProbe.probe(List.of()).devices();
        assumeTrue(!gpus.isEmpty(), "no CUDA GPU on this machine");
        gpu = gpus.get(0);
        backend = CudaBackend.open(gpu);
        forward = new CudaGpuForward(backend);
        threads = new CpuThreads(4);
        for (BuiltinModel b : List.of(BuiltinModel.ALL_MINILM_L6_V2, BuiltinModel.BGE_SMALL_EN_V15)) {
            EncoderModel m = EncoderModel.load(BuiltinModels.resolve(b.uri()));
            MODELS.put(b, m);
            List<TokenizedText> tokens =
                    TEXTS.stream().map(m.tokenizer()::encode).toList();
            try (OnnxReference ort = new OnnxReference(b, 4)) {
                float[][] ref = new float[TEXTS.size()][];
                for (int from = 0; from < TEXTS.size(); from += 8) {
                    float[][] part = ort.embed(
                            tokens.subList(from, Math.min(TEXTS.size(), from + 8)),
                            b.sentence().pooling());
                    System.arraycopy(part, 0, ref, from, part.length);
                }
                REFERENCE.put(b, ref);
            }
        }
    }

    @AfterAll
    static void close() {
        MODELS.values().forEach(EncoderModel::close);
        if (forward != null) {
            forward.close();
        }
        if (threads != null) {
            threads.close();
        }
    }

    /** The shared forward, not closed by the runners that borrow it. */
    private static GpuForward borrowed() {
        return new GpuForward() {
            @Override
            public float[] forward(
                    EncoderModel model, TokenBatch batch, dev.attune.kernels.select.AttentionChoice choice) {
                return forward.forward(model, batch, choice);
            }

            @Override
            public void trimPool() {
                forward.trimPool();
            }

            @Override
            public void retire(EncoderModel model, dev.attune.kernels.select.ComputeDtype dtype) {
                forward.retire(model, dtype);
            }

            @Override
            public void close() {}
        };
    }

    private static GpuDeviceRunner runner(UserOverrides o) {
        return new GpuDeviceRunner(
                gpu, o, 0.9, borrowed(), new DeviceRunner(DeviceInfo.cpu(), GpuDeviceRunner.hostOverrides(o), 0.9));
    }

    private static List<ComputeDtype> dtypes() {
        return gpu.capability().atLeast(ComputeCapability.SM80)
                ? List.of(ComputeDtype.FP32, ComputeDtype.FP16, ComputeDtype.BF16)
                : List.of(ComputeDtype.FP32, ComputeDtype.FP16);
    }

    @TestFactory
    List<DynamicTest> everyRunnablePathAndDtypeMatchesOnnxRuntime() {
        List<DynamicTest> tests = new ArrayList<>();
        for (BuiltinModel b : MODELS.keySet()) {
            EncoderModel m = MODELS.get(b);
            for (ComputeDtype dt : dtypes()) {
                for (AttentionPath p : AttentionPath.values()) {
                    AttentionRequest req = new AttentionRequest(
                            m.storedDtype(),
                            m.config().heads(),
                            m.config().headDim(),
                            8,
                            m.maxLength(),
                            MaskKind.PADDING);
                    if (!p.isGpu()
                            || AttentionSelector.whyNot(p, gpu, dt, req, KernelSupport.SHIPPED)
                                    .isPresent()) {
                        continue;
                    }
                    tests.add(DynamicTest.dynamicTest(b.id() + " " + p + " " + dt, () -> check(b, p, dt)));
                }
            }
        }
        return tests;
    }

    private static void check(BuiltinModel b, AttentionPath p, ComputeDtype dt) {
        EncoderModel m = MODELS.get(b);
        try (GpuDeviceRunner r = runner(UserOverrides.force(p).withDtype(dt))) {
            EncoderScoring.Embedding[] got = EncoderScoring.embed(m, TEXTS, 0, 8, 4096, r, threads);
            assertEquals(RunnerCounters.NONE, r.counters(), "no fallback of any kind: " + r.counters());
            double worst = 1;
            for (int i = 0; i < TEXTS.size(); i++) {
                assertEquals(p.id(), got[i].path());
                assertEquals(dt.id(), got[i].dtype());
                double cos = Vectors.cosine(got[i].vector(), REFERENCE.get(b)[i]);
                worst = Math.min(worst, cos);
                assertTrue(cos >= MIN_COSINE, b.id() + " " + p + " " + dt + ": text " + i + " cosine " + cos);
            }
            System.out.printf("%s %s %s on %s: worst cosine to ONNX Runtime %.6f%n", b.id(), p, dt, gpu.label(), worst);
        }
    }

    @Test
    void theSelectorsOwnChoiceMatchesOnnxRuntime() {
        for (BuiltinModel b : MODELS.keySet()) {
            try (GpuDeviceRunner r = runner(UserOverrides.NONE)) {
                EncoderScoring.Embedding[] got = EncoderScoring.embed(MODELS.get(b), TEXTS, 0, 16, 8192, r, threads);
                for (int i = 0; i < TEXTS.size(); i++) {
                    assertTrue(AttentionPath.parse(got[i].path()).isGpu(), got[i].path());
                    assertTrue(
                            Vectors.cosine(got[i].vector(), REFERENCE.get(b)[i]) >= MIN_COSINE, b.id() + " text " + i);
                }
            }
        }
    }

    /**
     * A real out-of-memory: the weights are made resident, then a session holds all but about
     * {@code room} bytes of the device, and a batch needing several times that is embedded.
     */
    @Test
    void aBatchTooLargeForTheFreeMemoryIsSplitAndStillCorrect() throws Exception {
        BuiltinModel b = BuiltinModel.BGE_SMALL_EN_V15;
        EncoderModel m = MODELS.get(b);
        String longText = TestTexts.longParagraph();
        List<String> texts = new ArrayList<>();
        for (int i = 0; i < 48; i++) {
            texts.add(i % 3 == 0 ? TEXTS.get(i % TEXTS.size()) : (i + " " + longText));
        }
        List<TokenizedText> tokens = m.tokenizeAll(texts, 0);
        int totalTokens = tokens.stream().mapToInt(TokenizedText::length).sum();
        UserOverrides memEfficient =
                UserOverrides.force(AttentionPath.MEM_EFFICIENT).withDtype(ComputeDtype.FP16);
        try (GpuDeviceRunner r = runner(memEfficient)) {
            // Resident weights and loaded modules first, so only activations compete for the rest.
            EncoderScoring.embed(m, texts.subList(0, 1), 0, 1, 8192, r, threads);
            forward.trimPool();
            // Activations of the whole batch in fp16: about 10 hidden-sized values per token plus the FFN's 4.
            long perToken = (long) m.config().hiddenSize() * 2 * 14;
            long room = perToken * totalTokens / 4;
            try (CudaSession hog = backend.session()) {
                long chunk = 256L << 20;
                while (chunk >= (1 << 20)) {
                    long free = backend.freeDeviceMemory();
                    if (free - chunk < room) {
                        chunk /= 2;
                        continue;
                    }
                    GpuArray held = hog.alloc(ComputeDtype.FP32, chunk / Float.BYTES);
                    assertTrue(held.elements() > 0);
                }
                EncoderScoring.Embedding[] got = EncoderScoring.embed(m, texts, 0, texts.size(), 1 << 20, r, threads);
                assertTrue(r.counters().oomSplits() >= 1, "the batch was split: " + r.counters());
                try (OnnxReference ort = new OnnxReference(b, 4)) {
                    for (int i = 0; i < texts.size(); i++) {
                        float[] ref =
                                ort.embed(List.of(tokens.get(i)), b.sentence().pooling())[0];
                        double cos = Vectors.cosine(got[i].vector(), ref);
                        assertTrue(cos >= MIN_COSINE, "text " + i + " cosine " + cos);
                    }
                }
                System.out.printf(
                        "%d rows, %d tokens, %d MiB free: %s%n", texts.size(), totalTokens, room >> 20, r.counters());
            }
            forward.trimPool();
        }
    }
}

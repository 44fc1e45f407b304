package dev.attune.model.llama;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import dev.attune.kernels.cpu.CpuThreads;
import dev.attune.kernels.device.DeviceInfo;
import dev.attune.kernels.device.SimulatedDevices;
import dev.attune.kernels.select.AttentionPath;
import dev.attune.kernels.select.UserOverrides;
import dev.attune.model.DecoderModel;
import dev.attune.model.llama.RandomDecoderCheckpoint.ModelType;
import dev.attune.model.llama.RandomDecoderCheckpoint.RopeScaling;
import dev.attune.model.safetensors.DType;
import dev.attune.runtime.DeviceRunner;
import dev.attune.task.LabelChoice;
import dev.attune.task.LogLikelihood;
import dev.attune.task.ScoreRequest;
import dev.attune.task.SequenceScore;
import dev.attune.testing.decoder.DecoderReference;
import dev.attune.testing.decoder.TestTokenizers;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The four decoder architectures end to end on the CPU: a random-weight checkpoint per variant in
 * the Hugging Face layout with a real tokenizer, loaded by {@link DecoderModel}, scored by
 * {@link LogLikelihood} on each CPU path and on simulated GPUs, and compared with the
 * independent float64 reference ({@link DecoderReference}) on the same token ids.
 *
 * <p>Variants cover: GQA in all (and multi-query), tied and untied heads, a sharded checkpoint,
 * BF16 and F16 storage, llama3 rope scaling, Mistral's sliding window (shorter than the texts),
 * Qwen2's q/k/v bias and Qwen3's per-head q/k norm with a head_dim that is not hidden / heads.
 *
 * <p>Weights are drawn with std 0.3 (not the generator's 1/sqrt(hidden)) so that attention is
 * peaked rather than near uniform: a wrong sign in RoPE then moves log-probs by 0.1-0.7 nats, far
 * outside the fp32 tolerance (with the default std it moved them by 3e-3).
 *
 * <p>Tolerances: fp32 on the CPU within 1e-3 nats per token of the fp64 reference (the issue's
 * bound; seen about 1e-5); a simulated fp16 device within 0.05 nats and bf16 within 0.25 nats
 * per token (the rounding of 11- and 8-bit mantissas through two layers of a random model, whose
 * logits are far less smooth than a trained one's).
 */
class DecoderModelsMatchReferenceTest {

    /** One architecture variant: its checkpoint and its tokenizer. */
    enum Variant {
        LLAMA(
                RandomDecoderCheckpoint.builder(ModelType.LLAMA)
                        .numHeads(4)
                        .numKvHeads(2)
                        .headDim(16)
                        .initStd(0.3),
                "llama2"),
        LLAMA3_SCALED_TIED_SHARDED(
                RandomDecoderCheckpoint.builder(ModelType.LLAMA)
                        .initStd(0.3)
                        .numHeads(4)
                        .numKvHeads(1)
                        .headDim(16)
                        .vocabSize(128256)
                        .tieWordEmbeddings(true)
                        .shards(3)
                        .bosTokenId(128000)
                        .eosTokenIds(128001, 128009)
                        .ropeTheta(500000)
                        .ropeScaling(RopeScaling.llama3(8, 1, 4, 16)),
                "llama3"),
        MISTRAL_WINDOW_BF16(
                RandomDecoderCheckpoint.builder(ModelType.MISTRAL)
                        .numHeads(4)
                        .numKvHeads(2)
                        .headDim(16)
                        .slidingWindow(5)
                        .dtype(DType.BF16)
                        .initStd(0.3),
                "llama2"),
        QWEN2_BIAS_TIED(
                RandomDecoderCheckpoint.builder(ModelType.QWEN2)
                        .numHeads(4)
                        .numKvHeads(2)
                        .headDim(16)
                        .vocabSize(151936)
                        .tieWordEmbeddings(true)
                        .bosTokenId(151643)
                        .eosTokenIds(151645, 151643)
                        .ropeScaling(RopeScaling.linear(2))
                        .initStd(0.3),
                "qwen3"),
        QWEN3_QKNORM_F16(
                RandomDecoderCheckpoint.builder(ModelType.QWEN3)
                        .numHeads(4)
                        .numKvHeads(2)
                        .headDim(24)
                        .vocabSize(151936)
                        .bosTokenId(151643)
                        .eosTokenIds(151645)
                        .dtype(DType.F16)
                        .initStd(0.3),
                "qwen3");

        final RandomDecoderCheckpoint.Builder spec;
        final String tokenizer;

        Variant(RandomDecoderCheckpoint.Builder spec, String tokenizer) {
            this.spec = spec;
            this.tokenizer = tokenizer;
        }
    }

    private static final List<String> TEXTS = List.of(
            "The quick brown fox jumps over the lazy dog.",
            "Spark executors probe their own GPUs and pick an attention path per device.",
            "naïve café — 東京 🚀 emoji and accents",
            "",
            "a",
            "Repeated words words words words words words words words words words words words.");

    @TempDir
    static Path tmp;

    private static CpuThreads threads;

    @BeforeAll
    static void start() {
        threads = new CpuThreads(2);
    }

    @AfterAll
    static void stop() {
        threads.close();
    }

    private static Path write(Variant v) throws Exception {
        Path dir = tmp.resolve(v.name());
        if (!dir.toFile().exists()) {
            v.spec.build().write(dir, TestTokenizers.dir(v.tokenizer));
        }
        return dir;
    }

    private static SequenceScore[] score(
            DecoderModel m, DeviceInfo device, UserOverrides o, List<ScoreRequest> rows, int maxRows) {
        return new LogLikelihood(m, new DeviceRunner(device, o, 0.9), threads, maxRows, 4096, false).score(rows);
    }

    private static List<ScoreRequest> texts() {
        List<ScoreRequest> r = new ArrayList<>();
        TEXTS.forEach(t -> r.add(ScoreRequest.text(t)));
        r.add(null);
        r.add(ScoreRequest.text(null));
        return r;
    }

    private static void assertNear(double[] want, float[] got, int from, double tol, String what) {
        assertEquals(want.length, got.length, what + ": token count");
        for (int i = 0; i < got.length; i++) {
            if (i < from) {
                assertTrue(Float.isNaN(got[i]), what + ": token " + i + " is not scored");
            } else {
                assertTrue(
                        Math.abs(want[i] - got[i]) <= tol,
                        what + ": token " + i + " logprob " + got[i] + " vs reference " + want[i]);
            }
        }
    }

    @ParameterizedTest
    @EnumSource(Variant.class)
    void fp32CpuPathsMatchTheFloat64Reference(Variant v) throws Exception {
        Path dir = write(v);
        DecoderReference ref = DecoderReference.load(dir);
        try (DecoderModel m = DecoderModel.load(dir);
                HuggingFaceTokenizer hf = HuggingFaceTokenizer.newInstance(dir.resolve("tokenizer.json"))) {
            for (AttentionPath path : new AttentionPath[] {AttentionPath.CPU_FLASH, AttentionPath.CPU_MATH}) {
                SequenceScore[] s = score(m, DeviceInfo.cpu(), UserOverrides.force(path), texts(), 16);
                for (int i = 0; i < TEXTS.size(); i++) {
                    long[] ids = hf.encode(TEXTS.get(i)).getIds();
                    assertArrayEquals(
                            Arrays.stream(ids).mapToInt(Math::toIntExact).toArray(),
                            s[i].tokens(),
                            v + ": token ids are the tokenizers library's");
                    double[] want = ref.tokenLogprobs(s[i].tokens());
                    assertNear(want, s[i].tokenLogprobs(), 1, 1e-3, v + " " + path + " text " + i);
                    double sum = 0;
                    for (int t = 1; t < want.length; t++) {
                        sum += want[t];
                    }
                    assertEquals(sum, s[i].logprob(), 1e-3 * Math.max(1, want.length), v + " sum");
                    assertEquals(Math.max(0, want.length - 1), s[i].scoredTokens());
                    assertEquals(path.id(), s[i].path());
                    assertEquals("fp32", s[i].dtype());
                }
                assertEquals(null, s[TEXTS.size()], "a null row gives null");
                assertEquals(null, s[TEXTS.size() + 1], "a null text gives null");
            }
        }
    }

    @ParameterizedTest
    @EnumSource(Variant.class)
    void batchedRowsScoreExactlyAsRowsAlone(Variant v) throws Exception {
        try (DecoderModel m = DecoderModel.load(write(v))) {
            SequenceScore[] batched = score(m, DeviceInfo.cpu(), UserOverrides.NONE, texts(), 16);
            SequenceScore[] alone = score(m, DeviceInfo.cpu(), UserOverrides.NONE, texts(), 1);
            for (int i = 0; i < TEXTS.size(); i++) {
                assertArrayEquals(alone[i].tokenLogprobs(), batched[i].tokenLogprobs(), v + " text " + i);
            }
        }
    }

    @ParameterizedTest
    @EnumSource(Variant.class)
    void simulatedGpusRunTheirPathAndPrecision(Variant v) throws Exception {
        Path dir = write(v);
        DecoderReference ref = DecoderReference.load(dir);
        try (DecoderModel m = DecoderModel.load(dir)) {
            for (String gpu : new String[] {"T4", "A100", "V100"}) {
                SequenceScore[] s = score(m, SimulatedDevices.get(gpu, 0), UserOverrides.NONE, texts(), 16);
                for (int i = 0; i < TEXTS.size(); i++) {
                    double tol =
                            s[i].dtype().equals("bf16") ? 0.25 : s[i].dtype().equals("fp16") ? 0.05 : 1e-3;
                    assertNear(
                            ref.tokenLogprobs(s[i].tokens()),
                            s[i].tokenLogprobs(),
                            1,
                            tol,
                            v + " on " + gpu + " (" + s[i].path() + " " + s[i].dtype() + ") text " + i);
                }
                String expectDtype = switch (gpu) {
                    case "A100" ->
                        m.storedDtype().id().equals("bf16")
                                ? "bf16"
                                : m.storedDtype().id().equals("fp32")
                                        ? "fp16"
                                        : m.storedDtype().id();
                    default -> "fp16";
                };
                assertTrue(s[0].device().contains(gpu), s[0].device());
                assertTrue(
                        s[0].path().startsWith("flash-")
                                || s[0].path().equals("mem-efficient")
                                || s[0].path().equals("math"),
                        s[0].path());
                if (gpu.equals("T4") || gpu.equals("V100")) {
                    assertEquals("fp16", s[0].dtype(), gpu + " has no bf16: " + s[0]);
                } else {
                    assertTrue(s[0].dtype().equals(expectDtype) || s[0].dtype().equals("fp32"), gpu + ": " + s[0]);
                }
            }
        }
    }

    @ParameterizedTest
    @EnumSource(
            value = Variant.class,
            names = {"LLAMA", "QWEN3_QKNORM_F16"})
    void completionsScoreOnlyTheirOwnTokensAndChoicePicksTheBest(Variant v) throws Exception {
        Path dir = write(v);
        DecoderReference ref = DecoderReference.load(dir);
        try (DecoderModel m = DecoderModel.load(dir)) {
            String prompt = "Review: the battery died after two days. Sentiment:";
            List<String> labels = List.of(" positive", " negative", " neutral", " mixed feelings overall");
            List<ScoreRequest> rows = new ArrayList<>();
            labels.forEach(l -> rows.add(new ScoreRequest(prompt, l)));
            LogLikelihood scorer = new LogLikelihood(
                    m, new DeviceRunner(DeviceInfo.cpu(), UserOverrides.NONE, 0.9), threads, 16, 4096, false);
            long[] packedTokens = {0};
            SequenceScore[] s = scorer.score(rows, (n, tokens, c, nanos) -> packedTokens[0] += tokens);
            int context = m.tokenize(prompt).length;
            // The prompt's prefill is shared: the batch holds it once, and each row scores as it does alone.
            int alone = 0;
            for (int c = 0; c < labels.size(); c++) {
                SequenceScore single = scorer.score(List.of(rows.get(c)))[0];
                alone += single.tokens().length;
                float[] a = single.tokenLogprobs();
                for (int t = context; t < a.length; t++) {
                    assertEquals(
                            a[t], s[c].tokenLogprobs()[t], 1e-5, v + " shared vs alone, label " + c + " token " + t);
                }
            }
            assertEquals(alone - (labels.size() - 1) * context, packedTokens[0], "the prompt is prefilled once");
            double[] sums = new double[labels.size()];
            double[] means = new double[labels.size()];
            for (int c = 0; c < labels.size(); c++) {
                assertArrayEquals(m.tokenize(prompt + labels.get(c)), s[c].tokens());
                assertEquals(context, s[c].firstScored());
                double[] want = ref.tokenLogprobs(s[c].tokens(), context);
                assertNear(want, s[c].tokenLogprobs(), context, 1e-3, v + " completion " + c);
                for (int t = context; t < want.length; t++) {
                    sums[c] += want[t];
                }
                means[c] = sums[c] / (want.length - context);
            }
            for (boolean normalize : new boolean[] {false, true}) {
                LabelChoice.Choice choice =
                        new LabelChoice(scorer, normalize).choose(List.of(new LabelChoice.Request(prompt, labels)))[0];
                double[] by = normalize ? means : sums;
                int best = 0;
                for (int c = 1; c < by.length; c++) {
                    best = by[c] > by[best] ? c : best;
                }
                assertEquals(best, choice.index(), "normalize=" + normalize + " scores " + Arrays.toString(by));
                assertEquals(labels.get(best), choice.label());
                assertArrayEquals(by, choice.scores(), 1e-3);
            }
        }
    }
}

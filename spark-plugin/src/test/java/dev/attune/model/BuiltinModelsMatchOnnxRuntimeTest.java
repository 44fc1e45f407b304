package dev.attune.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.attune.kernels.attention.CpuMathAttention;
import dev.attune.kernels.cpu.CpuThreads;
import dev.attune.model.builtin.BuiltinModel;
import dev.attune.model.builtin.BuiltinModels;
import dev.attune.model.tokenizer.TokenizedText;
import dev.attune.task.EncoderScoring;
import dev.attune.testing.OnnxReference;
import dev.attune.testing.TestTexts;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Attune's CPU encoder against ONNX Runtime on the same real models and the same token ids: every
 * component of every sentence vector within 1e-4.
 */
class BuiltinModelsMatchOnnxRuntimeTest {

    private static CpuThreads threads;

    @BeforeAll
    static void start() {
        threads = new CpuThreads(2);
    }

    @AfterAll
    static void stop() {
        threads.close();
    }

    @ParameterizedTest
    @EnumSource(BuiltinModel.class)
    void embeddingsMatchOnnxRuntime(BuiltinModel builtin) throws Exception {
        List<String> texts = TestTexts.VARIED;
        assertTrue(texts.size() >= 50);
        try (EncoderModel model = EncoderModel.load(BuiltinModels.resolve(builtin.uri()));
                OnnxReference ort = new OnnxReference(builtin, 2)) {
            List<TokenizedText> tokens =
                    texts.stream().map(model.tokenizer()::encode).toList();
            float[][] ours = EncoderScoring.embedTokens(model, tokens, 16, 4096, new CpuMathAttention(), threads);
            double worst = 0;
            // ORT in small batches of similar texts, padded: exercises its attention mask too.
            for (int from = 0; from < texts.size(); from += 8) {
                List<TokenizedText> chunk = tokens.subList(from, Math.min(texts.size(), from + 8));
                float[][] ref = ort.embed(chunk, builtin.sentence().pooling());
                for (int r = 0; r < chunk.size(); r++) {
                    float[] a = ours[from + r];
                    assertEquals(model.dimension(), a.length);
                    for (int i = 0; i < a.length; i++) {
                        double diff = Math.abs(a[i] - ref[r][i]);
                        worst = Math.max(worst, diff);
                        if (diff > 1e-4) {
                            throw new AssertionError(builtin.id() + ": text " + (from + r) + " component " + i
                                    + " differs by " + diff + " (ours " + a[i] + ", ONNX Runtime " + ref[r][i] + "): '"
                                    + texts.get(from + r) + "'");
                        }
                    }
                }
            }
            System.out.printf(
                    "%s: max |Attune - ONNX Runtime| = %.3g over %d texts%n", builtin.id(), worst, texts.size());
        }
    }
}

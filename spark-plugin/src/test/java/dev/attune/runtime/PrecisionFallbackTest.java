package dev.attune.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.attune.kernels.attention.CpuMathAttention;
import dev.attune.kernels.cpu.CpuThreads;
import dev.attune.kernels.device.SimulatedDevices;
import dev.attune.kernels.precision.PrecisionOverflowException;
import dev.attune.kernels.select.ComputeDtype;
import dev.attune.kernels.select.UserOverrides;
import dev.attune.model.EncoderModel;
import dev.attune.model.builtin.BuiltinModels;
import dev.attune.model.config.BertConfig;
import dev.attune.model.safetensors.SafetensorsWriter;
import dev.attune.task.EncoderScoring;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A model whose activations leave fp16's range: on a simulated T4 (fp16 by policy) the batch is
 * re-run in fp32 and counted, and the result equals the fp32 reference; with fp16 forced by the
 * user the overflow is an error, never silent infinities.
 */
class PrecisionFallbackTest {

    /** A one-layer BERT (hidden 16, 2 heads) with the real WordPiece tokenizer; large FFN weights overflow fp16. */
    static Path tinyModel(Path dir, float ffnScale) throws Exception {
        int h = 16;
        int inter = 32;
        int vocab = 30522;
        Random r = new Random(3);
        SafetensorsWriter w = new SafetensorsWriter();
        w.add("embeddings.word_embeddings.weight", new long[] {vocab, h}, rand(r, vocab * h, 0.5f));
        w.add("embeddings.position_embeddings.weight", new long[] {512, h}, rand(r, 512 * h, 0.5f));
        w.add("embeddings.token_type_embeddings.weight", new long[] {2, h}, rand(r, 2 * h, 0.5f));
        w.add("embeddings.LayerNorm.weight", new long[] {h}, ones(h));
        w.add("embeddings.LayerNorm.bias", new long[] {h}, new float[h]);
        String p = "encoder.layer.0.";
        for (String lin : new String[] {
            "attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"
        }) {
            w.add(p + lin + ".weight", new long[] {h, h}, rand(r, h * h, 0.3f));
            w.add(p + lin + ".bias", new long[] {h}, rand(r, h, 0.1f));
        }
        w.add(p + "attention.output.LayerNorm.weight", new long[] {h}, ones(h));
        w.add(p + "attention.output.LayerNorm.bias", new long[] {h}, new float[h]);
        w.add(p + "intermediate.dense.weight", new long[] {inter, h}, rand(r, inter * h, ffnScale));
        w.add(p + "intermediate.dense.bias", new long[] {inter}, new float[inter]);
        w.add(p + "output.dense.weight", new long[] {h, inter}, rand(r, h * inter, ffnScale));
        w.add(p + "output.dense.bias", new long[] {h}, new float[h]);
        w.add(p + "output.LayerNorm.weight", new long[] {h}, ones(h));
        w.add(p + "output.LayerNorm.bias", new long[] {h}, new float[h]);
        w.write(dir.resolve("model.safetensors"));
        new BertConfig("bert", h, 1, 2, inter, 512, 2, vocab, 1e-12, 0, "float32", Map.of()).write(dir);
        Path builtin = BuiltinModels.resolve("builtin:all-MiniLM-L6-v2");
        Files.copy(builtin.resolve("tokenizer.json"), dir.resolve("tokenizer.json"));
        return dir;
    }

    private static float[] rand(Random r, int n, float scale) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) r.nextGaussian() * scale;
        }
        return a;
    }

    private static float[] ones(int n) {
        float[] a = new float[n];
        java.util.Arrays.fill(a, 1f);
        return a;
    }

    @Test
    void fp16OverflowReRunsTheBatchInFp32AndCountsIt(@TempDir Path dir) throws Exception {
        List<String> texts = List.of("overflow in half precision", "a second row", "third");
        try (EncoderModel m = EncoderModel.load(tinyModel(dir, 4000f));
                CpuThreads t = new CpuThreads(2)) {
            float[][] ref = EncoderScoring.embed(m, texts, 8, 4096, new CpuMathAttention(), t);
            DeviceRunner t4 = new DeviceRunner(SimulatedDevices.get("T4", 0), UserOverrides.NONE, 0.9);
            EncoderScoring.Embedding[] got = EncoderScoring.embed(m, texts, 8, 4096, t4, t);
            assertEquals(1, t4.precisionFallbacks());
            for (int i = 0; i < texts.size(); i++) {
                assertEquals("fp32", got[i].dtype());
                // Flash has no fp32 kernel: the selector, asked again for fp32, gives these short rows math.
                assertEquals("math", got[i].path(), "the fp32 re-run takes the selector's fp32 choice");
                for (int c = 0; c < ref[i].length; c++) {
                    assertTrue(Math.abs(got[i].vector()[c] - ref[i][c]) <= 1e-4);
                }
            }
            DeviceRunner forced = new DeviceRunner(
                    SimulatedDevices.get("T4", 0), UserOverrides.NONE.withDtype(ComputeDtype.FP16), 0.9);
            PrecisionOverflowException e = assertThrows(
                    PrecisionOverflowException.class, () -> EncoderScoring.embed(m, texts, 8, 4096, forced, t));
            assertTrue(e.getMessage().contains("fp16"), e.getMessage());
        }
    }

    @Test
    void noOverflowNoFallback(@TempDir Path dir) throws Exception {
        try (EncoderModel m = EncoderModel.load(tinyModel(dir, 0.2f));
                CpuThreads t = new CpuThreads(2)) {
            DeviceRunner t4 = new DeviceRunner(SimulatedDevices.get("T4", 0), UserOverrides.NONE, 0.9);
            EncoderScoring.Embedding[] got = EncoderScoring.embed(m, List.of("fine"), 8, 4096, t4, t);
            assertEquals(0, t4.precisionFallbacks());
            assertEquals("fp16", got[0].dtype());
        }
    }
}

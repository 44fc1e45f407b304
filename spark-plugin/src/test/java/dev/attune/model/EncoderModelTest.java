package dev.attune.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.attune.kernels.attention.CpuMathAttention;
import dev.attune.kernels.cpu.CpuThreads;
import dev.attune.model.builtin.BuiltinModels;
import dev.attune.task.EncoderScoring;
import dev.attune.testing.TestTexts;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A whole model loaded from a real converted directory: truncation lengths of the built-in
 * models, null, empty and whitespace-only inputs, vectors returned in input order whatever the
 * length-bucketed batching does, truncation of long inputs, and refusal of a directory without
 * {@code config.json}.
 */
class EncoderModelTest {

    private static CpuThreads threads;
    private static EncoderModel miniLm;

    @TempDir
    Path tmp;

    @BeforeAll
    static void load() {
        threads = new CpuThreads(2);
        miniLm = EncoderModel.load(BuiltinModels.resolve("builtin:all-MiniLM-L6-v2"));
    }

    @AfterAll
    static void close() {
        miniLm.close();
        threads.close();
    }

    @Test
    void maxLengthOfTheBuiltinModels() {
        assertEquals(256, miniLm.maxLength());
        assertEquals(384, miniLm.dimension());
        try (EncoderModel bge = EncoderModel.load(BuiltinModels.resolve("builtin:bge-small-en-v1.5"))) {
            assertEquals(512, bge.maxLength());
            assertEquals(384, bge.dimension());
            float[] v = embed(bge, "");
            assertEquals(1.0, norm(v), 1e-5);
        }
    }

    @Test
    void nullTextGivesNullAndEmptyTextsGiveUnitVectors() {
        List<String> texts = Arrays.asList(null, "", "   ", "\t\n", "hello", null);
        float[][] v = EncoderScoring.embed(miniLm, texts, 8, 1024, new CpuMathAttention(), threads);
        assertEquals(texts.size(), v.length);
        assertNull(v[0]);
        assertNull(v[5]);
        for (int i = 1; i <= 4; i++) {
            assertNotNull(v[i]);
            assertEquals(384, v[i].length);
            assertEquals(1.0, norm(v[i]), 1e-5, "text " + i);
        }
        // "", "   " and "\t\n" are all [CLS] [SEP], so they embed identically.
        assertClose(v[1], v[2], 1e-6);
        assertClose(v[1], v[3], 1e-6);
        assertTrue(distance(v[1], v[4]) > 0.1, "'' and 'hello' should differ");
    }

    @Test
    void batchedVectorsComeBackInInputOrder() {
        // Lengths deliberately unsorted, so length bucketing reorders the rows.
        List<String> texts = new ArrayList<>(List.of(
                TestTexts.longParagraph(),
                "a",
                "What is the capital of France?",
                "Paris is the capital and most populous city of France.",
                "OK",
                "日本語のテキストもちゃんと処理できますか？",
                "Stock markets fell sharply after the announcement.",
                "Café au lait, crème brûlée et pâté — très français.",
                "I",
                "Sentence embeddings are useful for semantic search and clustering."));
        texts.add(3, null);
        float[][] batched = EncoderScoring.embed(miniLm, texts, 3, 64, new CpuMathAttention(), threads);
        assertEquals(texts.size(), batched.length);
        assertNull(batched[3]);
        for (int i = 0; i < texts.size(); i++) {
            if (texts.get(i) == null) {
                continue;
            }
            float[] alone = embed(miniLm, texts.get(i));
            assertClose(alone, batched[i], 1e-5);
            assertEquals(1.0, norm(batched[i]), 1e-5);
        }
        // The vectors are distinct, so a permutation could not have passed the check above.
        for (int i = 0; i < texts.size(); i++) {
            for (int j = i + 1; j < texts.size(); j++) {
                if (texts.get(i) != null && texts.get(j) != null) {
                    assertTrue(distance(batched[i], batched[j]) > 1e-2, i + " and " + j + " are too close");
                }
            }
        }
        // And they mean something: the question is nearer its answer than an unrelated sentence.
        float[] q = batched[2];
        assertTrue(
                dot(q, batched[4]) > dot(q, batched[7]) + 0.2,
                "capital question: answer " + dot(q, batched[4]) + ", stocks " + dot(q, batched[7]));
    }

    @Test
    void textsLongerThanMaxLengthAreTruncated() {
        String text = TestTexts.longParagraph();
        assertTrue(miniLm.tokenizer().encode(text).truncated());
        float[][] v = EncoderScoring.embed(
                miniLm,
                List.of(text, text + " An entirely different ending about cooking pasta."),
                2,
                1024,
                new CpuMathAttention(),
                threads);
        assertClose(v[0], v[1], 1e-6);
    }

    @Test
    void directoryWithoutConfigJsonIsRefused() throws IOException {
        Path source = BuiltinModels.resolve("builtin:all-MiniLM-L6-v2");
        Path dir = Files.createDirectory(tmp.resolve("model"));
        try (Stream<Path> files = Files.list(source)) {
            for (Path p : files.toList()) {
                if (!p.getFileName().toString().equals("config.json")) {
                    Files.createSymbolicLink(dir.resolve(p.getFileName()), p);
                }
            }
        }
        assertTrue(Files.isRegularFile(dir.resolve("model.safetensors")));
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> EncoderModel.load(dir));
        assertTrue(e.getMessage().contains(dir.resolve("config.json").toString()), e::getMessage);
    }

    @Test
    void missingDirectoryIsRefused() {
        Path dir = tmp.resolve("absent");
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> EncoderModel.load(dir));
        assertTrue(e.getMessage().contains(dir + ": model directory does not exist"), e::getMessage);
    }

    private static float[] embed(EncoderModel model, String text) {
        return EncoderScoring.embed(model, List.of(text), 1, 1024, new CpuMathAttention(), threads)[0];
    }

    private static void assertClose(float[] expected, float[] actual, double tol) {
        assertEquals(expected.length, actual.length);
        for (int i = 0; i < expected.length; i++) {
            assertEquals(expected[i], actual[i], tol, "component " + i);
        }
    }

    private static double norm(float[] v) {
        return Math.sqrt(dot(v, v));
    }

    private static double dot(float[] a, float[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) {
            s += (double) a[i] * b[i];
        }
        return s;
    }

    private static double distance(float[] a, float[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) {
            s += (a[i] - b[i]) * (double) (a[i] - b[i]);
        }
        return Math.sqrt(s);
    }
}

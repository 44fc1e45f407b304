package dev.attune.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.attune.app.cli.AttuneCli;
import dev.attune.model.builtin.BuiltinModels;
import dev.attune.testing.ModelCopies;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A model whose weights hold NaN or an infinity (header intact) is refused at load, naming tensor
 * and file; finite weights that still produce a non-finite embedding fail the row, naming model and
 * path, and nothing is written (never a JSON string "NaN").
 */
class NonFiniteWeightsTest {

    private static final String TENSOR = "encoder.layer.2.output.LayerNorm.weight";

    private static Path withValue(Path dst, String tensor, float value) throws Exception {
        Path src = BuiltinModels.resolve("builtin:all-MiniLM-L6-v2");
        return ModelCopies.copy(src, dst, c -> {}, (name, shape, data) -> {
            if (!name.equals(tensor)) {
                return data;
            }
            float[] out = data.clone();
            out[17] = value;
            return out;
        });
    }

    private static int embed(Path model, Path dir, ByteArrayOutputStream err) throws Exception {
        Path in = dir.resolve("in.jsonl");
        Files.write(in, List.of("{\"id\": 1, \"text\": \"a sentence about attention kernels\"}"));
        return AttuneCli.run(
                new String[] {
                    "embed",
                    "--input",
                    in.toString(),
                    "--output",
                    dir.resolve("out.jsonl").toString(),
                    "--model",
                    model.toString(),
                    "--threads",
                    "2"
                },
                new PrintStream(err, true, StandardCharsets.UTF_8));
    }

    @Test
    void weightsHoldingNanOrInfinityAreRefusedAtLoadNamingTensorAndFile(@TempDir Path dir) throws Exception {
        assertTrue(hasTensor(TENSOR), "the test edits a tensor the model has: " + TENSOR);
        for (float bad : new float[] {Float.NaN, Float.POSITIVE_INFINITY}) {
            Path model = withValue(dir.resolve("m" + bad), TENSOR, bad);
            var e = assertThrows(
                    ModelFormatException.class, () -> EncoderModel.load(model).close());
            assertTrue(
                    e.getMessage()
                            .contains("model.safetensors: tensor '" + TENSOR + "' holds " + bad + " at element 17"),
                    e.getMessage());

            Path work = Files.createDirectory(dir.resolve("w" + bad));
            ByteArrayOutputStream err = new ByteArrayOutputStream();
            assertEquals(1, embed(model, work, err));
            String log = err.toString(StandardCharsets.UTF_8);
            assertTrue(log.startsWith("attune: ") && log.contains(TENSOR), log);
            assertEquals(1, log.lines().count(), "one line: " + log);
            assertFalse(Files.exists(work.resolve("out.jsonl")));
        }
    }

    @Test
    void aNonFiniteEmbeddingFailsTheRowNamingModelAndPath(@TempDir Path dir) throws Exception {
        // Finite weights so large that the forward pass overflows to infinity and NaN.
        Path model = ModelCopies.overflowing(BuiltinModels.resolve("builtin:all-MiniLM-L6-v2"), dir.resolve("huge"));
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        assertEquals(1, embed(model, dir, err));
        String log = err.toString(StandardCharsets.UTF_8);
        assertTrue(log.contains("in.jsonl:1: model " + model + " on path cpu-flash gave"), log);
        assertTrue(log.contains("(non-finite output)"), log);
        assertFalse(Files.exists(dir.resolve("out.jsonl")), "no output with NaN in it");
    }

    private static boolean hasTensor(String tensor) {
        return dev.attune.model.safetensors.WeightStore.open(BuiltinModels.resolve("builtin:all-MiniLM-L6-v2"))
                .contains(tensor);
    }
}

package dev.attune.model.safetensors;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.attune.model.ModelFormatException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The weights of a model directory: a single {@code model.safetensors} or shards listed by
 * {@code model.safetensors.index.json}; shard names that leave the directory, missing shards,
 * tensors absent from their shard, a broken index and shape checks are refused with a
 * {@link ModelFormatException} naming the file and the key at fault.
 */
class WeightStoreTest {

    @TempDir
    Path dir;

    @Test
    void singleFileModelLoadsAllTensors() throws IOException {
        new SafetensorsWriter()
                .add("a", new long[] {2, 2}, new float[] {1, 2, 3, 4})
                .add("b", new long[] {3}, new float[] {5, 6, 7})
                .write(dir.resolve(WeightStore.SINGLE_FILE));
        WeightStore w = WeightStore.open(dir);
        assertEquals(dir, w.directory());
        assertEquals(Set.of("a", "b"), w.names());
        assertTrue(w.contains("a"));
        assertFalse(w.contains("c"));
        assertArrayEquals(new float[] {1, 2, 3, 4}, w.floats("a", 2, 2));
        assertArrayEquals(new float[] {5, 6, 7}, w.floats("b"));
        assertEquals(DType.F32, w.storedDtype());
    }

    @Test
    void shardedModelLoadsEveryTensorFromItsShard() throws IOException {
        writeShards();
        index("""
                {"metadata": {"total_size": 40},
                 "weight_map": {"embeddings.weight": "model-00001-of-00002.safetensors",
                                "layer.0.weight": "model-00001-of-00002.safetensors",
                                "layer.1.weight": "model-00002-of-00002.safetensors",
                                "pooler.bias": "model-00002-of-00002.safetensors"}}""");
        WeightStore w = WeightStore.open(dir);
        assertEquals(Set.of("embeddings.weight", "layer.0.weight", "layer.1.weight", "pooler.bias"), w.names());
        assertArrayEquals(new float[] {1, 2, 3, 4}, w.floats("embeddings.weight", 2, 2));
        assertArrayEquals(new float[] {5, 6}, w.floats("layer.0.weight", 2));
        assertArrayEquals(new float[] {7, 8, 9}, w.floats("layer.1.weight", 3));
        assertArrayEquals(new float[] {10}, w.floats("pooler.bias", 1));
        assertArrayEquals(new long[] {3}, w.info("layer.1.weight").shape());
    }

    @Test
    void indexTakesPrecedenceOverASingleFile() throws IOException {
        writeShards();
        new SafetensorsWriter()
                .add("stale", new long[] {1}, new float[] {0})
                .write(dir.resolve(WeightStore.SINGLE_FILE));
        index("{\"weight_map\": {\"pooler.bias\": \"model-00002-of-00002.safetensors\"}}");
        WeightStore w = WeightStore.open(dir);
        assertEquals(Set.of("pooler.bias"), w.names());
    }

    @ParameterizedTest
    @ValueSource(
            strings = {
                "../evil.safetensors",
                "/etc/passwd",
                "sub/x.safetensors",
                "..\\evil.safetensors",
                "sub\\x.safetensors",
                "..",
                ".",
                "",
                "./model-00001-of-00002.safetensors",
                "bad\u0000name"
            })
    void shardNamesOutsideTheModelDirectoryAreRefused(String shard) throws IOException {
        writeShards();
        Files.createDirectories(dir.resolve("sub"));
        new SafetensorsWriter()
                .add("layer.0.weight", new long[] {2}, new float[] {5, 6})
                .write(dir.resolve("sub/x.safetensors"));
        index("{\"weight_map\": {\"layer.0.weight\": " + jsonString(shard) + "}}");
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> WeightStore.open(dir));
        assertMessage(e, WeightStore.INDEX_FILE, "shard name", "not a plain file name inside the model directory");
    }

    @Test
    void missingShardIsRefused() throws IOException {
        writeShards();
        index("{\"weight_map\": {\"layer.0.weight\": \"model-00001-of-00002.safetensors\","
                + " \"layer.2.weight\": \"model-00003-of-00003.safetensors\"}}");
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> WeightStore.open(dir));
        assertMessage(e, WeightStore.INDEX_FILE, "shard 'model-00003-of-00003.safetensors' does not exist");
    }

    @Test
    void shardThatIsADirectoryIsRefused() throws IOException {
        writeShards();
        Files.createDirectories(dir.resolve("shard.safetensors"));
        index("{\"weight_map\": {\"layer.0.weight\": \"shard.safetensors\"}}");
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> WeightStore.open(dir));
        assertMessage(e, "shard 'shard.safetensors' does not exist");
    }

    @Test
    void tensorAbsentFromItsShardIsRefused() throws IOException {
        writeShards();
        index("{\"weight_map\": {\"layer.1.weight\": \"model-00001-of-00002.safetensors\"}}");
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> WeightStore.open(dir));
        assertMessage(
                e,
                WeightStore.INDEX_FILE,
                "tensor 'layer.1.weight' is not in its shard 'model-00001-of-00002.safetensors'");
    }

    @Test
    void corruptShardIsRefusedWithTheShardNamed() throws IOException {
        writeShards();
        Files.write(dir.resolve("model-00002-of-00002.safetensors"), new byte[] {1, 2, 3});
        index("{\"weight_map\": {\"pooler.bias\": \"model-00002-of-00002.safetensors\"}}");
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> WeightStore.open(dir));
        assertMessage(e, "model-00002-of-00002.safetensors", "too short");
    }

    @Test
    void shardOfANonStringIsRefused() throws IOException {
        writeShards();
        index("{\"weight_map\": {\"layer.0.weight\": 1}}");
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> WeightStore.open(dir));
        assertMessage(e, WeightStore.INDEX_FILE, "shard of tensor 'layer.0.weight' is not a file name");
    }

    @ParameterizedTest
    @ValueSource(
            strings = {"{not json", "", "[1, 2]", "null", "{}", "{\"weight_map\": [\"a\"]}", "{\"weight_map\": \"x\"}"})
    void brokenIndexIsRefused(String content) throws IOException {
        writeShards();
        index(content);
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> WeightStore.open(dir));
        assertMessage(e, dir.resolve(WeightStore.INDEX_FILE).toString());
        assertTrue(
                e.getMessage().contains("not valid JSON") || e.getMessage().contains("missing the weight_map object"),
                e::getMessage);
    }

    @Test
    void directoryWithoutWeightsIsRefused() throws IOException {
        Files.writeString(dir.resolve("config.json"), "{}");
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> WeightStore.open(dir));
        assertMessage(e, dir.toString(), WeightStore.SINGLE_FILE, WeightStore.INDEX_FILE);
    }

    @Test
    void wrongShapeIsAClearError() throws IOException {
        new SafetensorsWriter().add("w", new long[] {2, 3}, new float[6]).write(dir.resolve(WeightStore.SINGLE_FILE));
        WeightStore w = WeightStore.open(dir);
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> w.floats("w", 3, 2));
        assertMessage(e, dir.toString(), "tensor 'w'", "has shape [2, 3]", "expected [3, 2]");
        e = assertThrows(ModelFormatException.class, () -> w.floats("w", 6));
        assertMessage(e, "expected [6]");
        assertEquals(6, w.floats("w", 2, 3).length);
    }

    @Test
    void unknownTensorIsAClearError() throws IOException {
        new SafetensorsWriter().add("w", new long[] {1}, new float[1]).write(dir.resolve(WeightStore.SINGLE_FILE));
        WeightStore w = WeightStore.open(dir);
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> w.floats("missing.weight", 1));
        assertMessage(e, dir.toString(), "no tensor named 'missing.weight'");
        assertThrows(ModelFormatException.class, () -> w.info("missing.weight"));
    }

    private void writeShards() throws IOException {
        new SafetensorsWriter()
                .add("embeddings.weight", new long[] {2, 2}, new float[] {1, 2, 3, 4})
                .add("layer.0.weight", new long[] {2}, new float[] {5, 6})
                .write(dir.resolve("model-00001-of-00002.safetensors"));
        new SafetensorsWriter()
                .add("layer.1.weight", new long[] {3}, new float[] {7, 8, 9})
                .add("pooler.bias", new long[] {1}, new float[] {10})
                .write(dir.resolve("model-00002-of-00002.safetensors"));
    }

    private void index(String json) throws IOException {
        Files.writeString(dir.resolve(WeightStore.INDEX_FILE), json);
    }

    private static String jsonString(String s) {
        StringBuilder b = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            if (c == '"' || c == '\\') {
                b.append('\\').append(c);
            } else if (c < 0x20) {
                b.append(String.format("\\u%04x", (int) c));
            } else {
                b.append(c);
            }
        }
        return b.append('"').toString();
    }

    private static void assertMessage(Exception e, String... fragments) {
        for (String s : fragments) {
            assertTrue(e.getMessage().contains(s), () -> "message '" + e.getMessage() + "' lacks '" + s + "'");
        }
    }
}

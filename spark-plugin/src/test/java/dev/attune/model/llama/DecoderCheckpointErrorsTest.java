package dev.attune.model.llama;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.attune.model.DecoderModel;
import dev.attune.model.ModelFamily;
import dev.attune.model.ModelFormatException;
import dev.attune.model.llama.RandomDecoderCheckpoint.ModelType;
import dev.attune.model.safetensors.SafetensorsWriter;
import dev.attune.testing.decoder.TestTokenizers;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A decoder checkpoint that is wrong fails at load time with one message naming the key or the
 * tensor: unsupported architectures and rope types, invalid head counts, a missing or misshapen
 * tensor, a missing LM head, bad token ids; and the config reads what HF writes.
 */
class DecoderCheckpointErrorsTest {

    @TempDir
    Path tmp;

    private Path checkpoint(String name, RandomDecoderCheckpoint spec) throws Exception {
        Path dir = tmp.resolve(name);
        spec.write(dir, TestTokenizers.dir("llama2"));
        return dir;
    }

    private static RandomDecoderCheckpoint.Builder tiny() {
        return RandomDecoderCheckpoint.builder(ModelType.LLAMA)
                .hiddenSize(32)
                .numHeads(4)
                .numKvHeads(2)
                .headDim(8)
                .intermediateSize(64)
                .numLayers(1);
    }

    private static void editConfig(Path dir, Consumer<ObjectNode> edit) throws Exception {
        ObjectMapper json = new ObjectMapper();
        ObjectNode c = (ObjectNode) json.readTree(dir.resolve("config.json").toFile());
        edit.accept(c);
        json.writeValue(dir.resolve("config.json").toFile(), c);
    }

    private static String loadError(Path dir) {
        return assertThrows(
                        ModelFormatException.class, () -> DecoderModel.load(dir).close())
                .getMessage();
    }

    @Test
    void readsWhatHuggingFaceWrites() throws Exception {
        Path dir = checkpoint(
                "ok",
                tiny().eosTokenIds(2, 7)
                        .ropeScaling(RandomDecoderCheckpoint.RopeScaling.linear(4))
                        .build());
        DecoderConfig c = DecoderConfig.read(dir);
        assertEquals("llama", c.modelType());
        assertEquals(4, c.heads());
        assertEquals(2, c.kvHeads());
        assertEquals(8, c.headDim());
        assertEquals(java.util.List.of(2, 7), c.eosTokenIds());
        assertEquals("linear", c.ropeScaling().type());
        assertEquals(4, c.ropeScaling().factor());
        assertEquals(ModelFamily.DECODER, ModelFamily.of(dir));
        assertEquals(2L * 1 * 2 * 8 * 2, c.kvBytesPerToken(2));
    }

    /**
     * A BF16 checkpoint keeps its matrices as bf16 bit patterns: a NaN or infinity in one is still
     * refused at load, naming the tensor, the file and the element.
     */
    @Test
    void aNonFiniteBf16MatrixIsRefusedNamingTensorAndElement() throws Exception {
        String tensor = "model.layers.0.mlp.down_proj.weight";
        for (short bad : new short[] {(short) 0x7fc0, (short) 0xff80}) { // NaN, -Inf
            Path dir = checkpoint(
                    "bf16-" + bad,
                    tiny().dtype(dev.attune.model.safetensors.DType.BF16).build());
            Path file = dir.resolve("model.safetensors");
            long begin = dev.attune.model.safetensors.SafetensorsFile.open(file)
                    .info(tensor)
                    .begin();
            try (java.nio.channels.FileChannel ch = java.nio.channels.FileChannel.open(
                    file, java.nio.file.StandardOpenOption.READ, java.nio.file.StandardOpenOption.WRITE)) {
                java.nio.ByteBuffer header = java.nio.ByteBuffer.allocate(8).order(java.nio.ByteOrder.LITTLE_ENDIAN);
                ch.read(header, 0);
                long dataStart = 8 + header.getLong(0);
                java.nio.ByteBuffer v = java.nio.ByteBuffer.allocate(2).order(java.nio.ByteOrder.LITTLE_ENDIAN);
                v.putShort(0, bad);
                ch.write(v, dataStart + begin + 2L * 5);
            }
            String e = loadError(dir);
            assertTrue(
                    e.contains("model.safetensors: tensor '" + tensor + "' holds "
                            + dev.attune.kernels.ops.WeightData.Bf16.toFloat(bad) + " at element 5"),
                    e);
        }
    }

    @Test
    void unsupportedConfigsAreNamed() throws Exception {
        Path dir = checkpoint("cfg", tiny().build());
        editConfig(dir, c -> c.put("model_type", "gpt2"));
        String m = assertThrows(ModelFormatException.class, () -> ModelFamily.of(dir))
                .getMessage();
        assertTrue(m.contains("model_type 'gpt2'") && m.contains("llama"), m);

        editConfig(dir, c -> {
            c.put("model_type", "llama");
            c.putObject("rope_scaling").put("rope_type", "yarn").put("factor", 4);
        });
        m = loadError(dir);
        assertTrue(m.contains("rope_scaling.rope_type 'yarn'"), m);

        editConfig(dir, c -> {
            c.putNull("rope_scaling");
            c.put("num_key_value_heads", 3);
        });
        m = loadError(dir);
        assertTrue(m.contains("num_key_value_heads 3"), m);

        editConfig(dir, c -> {
            c.put("num_key_value_heads", 2);
            c.put("hidden_act", "gelu");
        });
        assertTrue(loadError(dir).contains("hidden_act 'gelu'"));

        editConfig(dir, c -> {
            c.put("hidden_act", "silu");
            c.put("eos_token_id", "two");
        });
        Files.delete(dir.resolve("generation_config.json"));
        assertTrue(loadError(dir).contains("eos_token_id"));

        editConfig(dir, c -> {
            c.put("eos_token_id", 2);
            c.put("vocab_size", 100);
        });
        m = loadError(dir);
        assertTrue(m.contains("model.embed_tokens.weight") && m.contains("shape"), m);
    }

    @Test
    void missingTensorsAreNamed() throws Exception {
        Path dir = checkpoint("tensors", tiny().build());
        // Rewrite the weights without one layer tensor.
        var store = dev.attune.model.safetensors.WeightStore.open(dir);
        SafetensorsWriter w = new SafetensorsWriter();
        for (String n : store.names()) {
            if (!n.equals("model.layers.0.mlp.up_proj.weight") && !n.equals("lm_head.weight")) {
                w.add(n, store.info(n).shape(), store.floats(n));
            }
        }
        w.write(dir.resolve("model.safetensors"));
        String m = loadError(dir);
        assertTrue(m.contains("'model.layers.0.mlp.up_proj.weight'"), m);
    }
}

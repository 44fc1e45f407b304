package dev.attune.model.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.attune.model.ModelFormatException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Reading a Hugging Face {@code config.json}: the fields of a valid BERT or RoBERTa config and
 * its defaults, {@code id2label}, the write/read round trip, and the refusal (with file, key and
 * value named) of missing or inconsistent sizes and of unsupported architectures, activations and
 * position embeddings.
 */
class BertConfigTest {

    @TempDir
    Path dir;

    /** The config.json of sentence-transformers/all-MiniLM-L6-v2, as published. */
    private static final String MINILM = """
            {
              "_name_or_path": "nreimers/MiniLM-L6-H384-uncased",
              "architectures": ["BertModel"],
              "attention_probs_dropout_prob": 0.1,
              "gradient_checkpointing": false,
              "hidden_act": "gelu",
              "hidden_dropout_prob": 0.1,
              "hidden_size": 384,
              "initializer_range": 0.02,
              "intermediate_size": 1536,
              "layer_norm_eps": 1e-12,
              "max_position_embeddings": 512,
              "model_type": "bert",
              "num_attention_heads": 12,
              "num_hidden_layers": 6,
              "pad_token_id": 0,
              "position_embedding_type": "absolute",
              "transformers_version": "4.8.2",
              "type_vocab_size": 2,
              "use_cache": true,
              "vocab_size": 30522
            }""";

    @Test
    void readsAValidBertConfig() throws IOException {
        write(MINILM);
        BertConfig c = BertConfig.read(dir);
        assertEquals("bert", c.modelType());
        assertEquals(384, c.hiddenSize());
        assertEquals(6, c.layers());
        assertEquals(12, c.heads());
        assertEquals(32, c.headDim());
        assertEquals(1536, c.intermediateSize());
        assertEquals(512, c.maxPositions());
        assertEquals(2, c.typeVocabSize());
        assertEquals(30522, c.vocabSize());
        assertEquals(1e-12, c.layerNormEps());
        assertEquals(0, c.padTokenId());
        assertEquals("float32", c.storedDtype());
        assertEquals(Map.of(), c.id2label());
        assertEquals(0, c.positionOffset());
        assertEquals(512, c.maxInputTokens());
    }

    @Test
    void optionalFieldsTakeTheirDefaults() throws IOException {
        write("""
                {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 128,
                 "max_position_embeddings": 32, "vocab_size": 100}""");
        BertConfig c = BertConfig.read(dir);
        assertEquals("bert", c.modelType());
        assertEquals(2, c.typeVocabSize());
        assertEquals(1e-12, c.layerNormEps());
        assertEquals(0, c.padTokenId());
        assertEquals("float32", c.storedDtype());
        assertEquals(16, c.headDim());
    }

    @Test
    void robertaPositionsStartAfterThePaddingId() throws IOException {
        write("""
                {"model_type": "xlm-roberta", "hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12,
                 "intermediate_size": 3072, "max_position_embeddings": 514, "type_vocab_size": 1, "vocab_size": 250002,
                 "layer_norm_eps": 1e-05, "pad_token_id": 1, "torch_dtype": "float16"}""");
        BertConfig c = BertConfig.read(dir);
        assertEquals("xlm-roberta", c.modelType());
        assertEquals(2, c.positionOffset());
        assertEquals(512, c.maxInputTokens());
        assertEquals(1, c.typeVocabSize());
        assertEquals(1e-5, c.layerNormEps());
        assertEquals("float16", c.storedDtype());
    }

    @Test
    void id2labelIsParsedInNumericOrder() throws IOException {
        write(MINILM.replace(
                "\"use_cache\": true,",
                "\"use_cache\": true, \"id2label\": {\"10\": \"ten\", \"2\": \"two\", \"0\": \"zero\"},"));
        BertConfig c = BertConfig.read(dir);
        assertEquals(Map.of(0, "zero", 2, "two", 10, "ten"), c.id2label());
        assertEquals(List.of("zero", "two", "ten"), c.labels());
    }

    @Test
    void id2labelWithANonIntegerKeyIsRefused() throws IOException {
        write(MINILM.replace("\"use_cache\": true,", "\"use_cache\": true, \"id2label\": {\"LABEL_0\": \"neg\"},"));
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> BertConfig.read(dir));
        assertMessage(e, dir.resolve("config.json").toString(), "id2label key 'LABEL_0' is not an integer");
    }

    @Test
    void writeThenReadRoundTrips() throws IOException {
        BertConfig c = new BertConfig(
                "bert", 384, 6, 12, 1536, 512, 2, 30522, 1e-12, 0, "float32", Map.of(0, "negative", 1, "positive"));
        c.write(dir);
        assertEquals(c, BertConfig.read(dir));
        assertEquals(
                "BertForSequenceClassification",
                c.toJson().get("architectures").get(0).asText());

        BertConfig r = new BertConfig("roberta", 768, 12, 12, 3072, 514, 1, 50265, 1e-5, 1, "float16", Map.of());
        r.write(dir);
        assertEquals(r, BertConfig.read(dir));
        assertEquals("RobertaModel", r.toJson().get("architectures").get(0).asText());
    }

    @ParameterizedTest
    @CsvSource(
            delimiter = '|',
            value = {
                "\"hidden_size\": 384,|''|'hidden_size' must be a positive integer, got null",
                "\"hidden_size\": 384,|\"hidden_size\": 0,|'hidden_size' must be a positive integer, got 0",
                "\"hidden_size\": 384,|\"hidden_size\": -384,|'hidden_size' must be a positive integer, got -384",
                "\"hidden_size\": 384,|\"hidden_size\": \"384\",|'hidden_size' must be a positive integer",
                "\"hidden_size\": 384,|\"hidden_size\": 99999999999,|'hidden_size' must be a positive integer",
                "\"hidden_size\": 384,|\"hidden_size\": 384.5,|'hidden_size' must be a positive integer, got 384.5",
                "\"intermediate_size\": 1536,|\"intermediate_size\": 1536.7,|'intermediate_size' must be a positive integer",
                "\"pad_token_id\": 0,|\"pad_token_id\": 0.5,|'pad_token_id' must be a non-negative integer, got 0.5",
                "\"num_attention_heads\": 12,|\"num_attention_heads\": 0,|'num_attention_heads' must be a positive integer",
                "\"num_hidden_layers\": 6,|''|'num_hidden_layers' must be a positive integer, got null",
                "\"vocab_size\": 30522|\"vocab_size\": null|'vocab_size' must be a positive integer",
                "\"pad_token_id\": 0,|\"pad_token_id\": -1,|'pad_token_id' must be a non-negative integer, got -1",
                "\"type_vocab_size\": 2,|\"type_vocab_size\": \"two\",|'type_vocab_size' must be a non-negative integer"
            })
    void missingOrInvalidSizesAreRefused(String from, String to, String expected) throws IOException {
        assertTrue(MINILM.contains(from));
        write(MINILM.replace(from, to));
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> BertConfig.read(dir));
        assertMessage(e, dir.resolve("config.json").toString(), expected);
    }

    @Test
    void hiddenSizeNotAMultipleOfHeadsIsRefused() throws IOException {
        write(MINILM.replace("\"num_attention_heads\": 12,", "\"num_attention_heads\": 7,"));
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> BertConfig.read(dir));
        assertMessage(
                e, dir.resolve("config.json").toString(), "hidden_size 384 is not a multiple of num_attention_heads 7");
    }

    @ParameterizedTest
    @CsvSource(
            delimiter = '|',
            value = {
                "\"model_type\": \"bert\"|\"model_type\": \"llama\"|model_type 'llama' is not a BERT-family encoder",
                "\"model_type\": \"bert\"|\"model_type\": \"distilbert\"|model_type 'distilbert' is not a BERT-family encoder",
                "\"hidden_act\": \"gelu\"|\"hidden_act\": \"relu\"|hidden_act 'relu' is not supported",
                "\"hidden_act\": \"gelu\"|\"hidden_act\": \"gelu_new\"|hidden_act 'gelu_new' is not supported",
                "\"position_embedding_type\": \"absolute\"|\"position_embedding_type\": \"relative_key\""
                        + "|position_embedding_type 'relative_key' is not supported"
            })
    void unsupportedArchitecturesAreRefused(String from, String to, String expected) throws IOException {
        assertTrue(MINILM.contains(from));
        write(MINILM.replace(from, to));
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> BertConfig.read(dir));
        assertMessage(e, dir.resolve("config.json").toString(), expected);
    }

    @ParameterizedTest
    @ValueSource(strings = {"bert", "roberta", "xlm-roberta", "camembert"})
    void bertFamilyTypesAreAccepted(String type) throws IOException {
        write(MINILM.replace("\"model_type\": \"bert\"", "\"model_type\": \"" + type + "\""));
        assertEquals(type, BertConfig.read(dir).modelType());
    }

    @Test
    void geluPythonIsAccepted() throws IOException {
        write(MINILM.replace("\"hidden_act\": \"gelu\"", "\"hidden_act\": \"gelu_python\""));
        assertEquals(384, BertConfig.read(dir).hiddenSize());
    }

    @ParameterizedTest
    @ValueSource(strings = {"{not json", "[1, 2]", "\"config\"", "42"})
    void configThatIsNotAJsonObjectIsRefused(String content) throws IOException {
        write(content);
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> BertConfig.read(dir));
        assertMessage(e, dir.resolve("config.json").toString());
    }

    @Test
    void missingConfigIsRefusedWithTheFileNamed() {
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> BertConfig.read(dir));
        assertMessage(e, dir.resolve("config.json").toString(), "cannot read");
    }

    private void write(String json) throws IOException {
        Files.writeString(dir.resolve(BertConfig.FILE), json);
    }

    private static void assertMessage(Exception e, String... fragments) {
        for (String s : fragments) {
            assertTrue(e.getMessage().contains(s), () -> "message '" + e.getMessage() + "' lacks '" + s + "'");
        }
    }
}

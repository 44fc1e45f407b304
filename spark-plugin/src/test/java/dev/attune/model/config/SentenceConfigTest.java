package dev.attune.model.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.attune.model.ModelFormatException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Reading the sentence-transformers files of a model directory: the defaults without them,
 * Normalize and Pooling modules, {@code max_seq_length}, the write/read round trip, and the
 * refusal of several or unsupported pooling modes, module paths that leave the directory and
 * malformed files.
 */
class SentenceConfigTest {

    @TempDir
    Path dir;

    private static final String MODULES_WITH_NORMALIZE = """
            [
              {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
              {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
              {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}
            ]""";

    private static final String MODULES_WITHOUT_NORMALIZE = """
            [
              {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
              {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}
            ]""";

    @Test
    void defaultsWithoutSentenceTransformersFiles() throws IOException {
        Files.writeString(dir.resolve("config.json"), "{}");
        assertEquals(new SentenceConfig(Pooling.MEAN, false, 0), SentenceConfig.read(dir));
    }

    @Test
    void normalizeAndClsPooling() throws IOException {
        Files.writeString(dir.resolve(SentenceConfig.MODULES), MODULES_WITH_NORMALIZE);
        pooling("1_Pooling", true, false, false);
        SentenceConfig c = SentenceConfig.read(dir);
        assertEquals(Pooling.CLS, c.pooling());
        assertTrue(c.normalize());
        assertEquals(0, c.maxSeqLength());
    }

    @Test
    void maxPoolingWithoutNormalize() throws IOException {
        Files.writeString(dir.resolve(SentenceConfig.MODULES), MODULES_WITHOUT_NORMALIZE);
        pooling("1_Pooling", false, false, true);
        assertEquals(new SentenceConfig(Pooling.MAX, false, 0), SentenceConfig.read(dir));
    }

    @Test
    void meanPoolingFromTheFile() throws IOException {
        Files.writeString(dir.resolve(SentenceConfig.MODULES), MODULES_WITH_NORMALIZE);
        pooling("1_Pooling", false, true, false);
        assertEquals(new SentenceConfig(Pooling.MEAN, true, 0), SentenceConfig.read(dir));
    }

    @Test
    void poolingModuleInTheModelDirectoryItself() throws IOException {
        Files.writeString(
                dir.resolve(SentenceConfig.MODULES),
                "[{\"idx\": 0, \"path\": \"\", \"type\": \"sentence_transformers.models.Pooling\"}]");
        pooling("", true, false, false);
        assertEquals(Pooling.CLS, SentenceConfig.read(dir).pooling());
    }

    @Test
    void maxSeqLengthFromSentenceBertConfig() throws IOException {
        Files.writeString(dir.resolve(SentenceConfig.SBERT), "{\"max_seq_length\": 256, \"do_lower_case\": false}");
        assertEquals(new SentenceConfig(Pooling.MEAN, false, 256), SentenceConfig.read(dir));
    }

    @Test
    void nullMaxSeqLengthMeansUnstated() throws IOException {
        Files.writeString(dir.resolve(SentenceConfig.SBERT), "{\"max_seq_length\": null}");
        assertEquals(0, SentenceConfig.read(dir).maxSeqLength());
    }

    @ParameterizedTest
    @ValueSource(strings = {"0", "-5", "\"256\"", "99999999999"})
    void invalidMaxSeqLengthIsRefused(String value) throws IOException {
        Path f = dir.resolve(SentenceConfig.SBERT);
        Files.writeString(f, "{\"max_seq_length\": " + value + "}");
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> SentenceConfig.read(dir));
        assertMessage(e, f.toString(), "max_seq_length must be a positive integer");
    }

    @Test
    void twoPoolingModesAreRefused() throws IOException {
        Files.writeString(dir.resolve(SentenceConfig.MODULES), MODULES_WITH_NORMALIZE);
        pooling("1_Pooling", true, true, false);
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> SentenceConfig.read(dir));
        assertMessage(e, dir.resolve("1_Pooling/config.json").toString(), "more than one pooling mode");
    }

    @ParameterizedTest
    @ValueSource(
            strings = {"pooling_mode_mean_sqrt_len_tokens", "pooling_mode_weightedmean_tokens", "pooling_mode_lasttoken"
            })
    void unsupportedPoolingModesAreRefused(String mode) throws IOException {
        Files.writeString(dir.resolve(SentenceConfig.MODULES), MODULES_WITHOUT_NORMALIZE);
        Files.createDirectories(dir.resolve("1_Pooling"));
        Files.writeString(dir.resolve("1_Pooling/config.json"), "{\"" + mode + "\": true}");
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> SentenceConfig.read(dir));
        assertMessage(e, "1_Pooling", mode + " is not supported");
    }

    @ParameterizedTest
    @ValueSource(strings = {"../x", "../../etc", "/etc", "1_Pooling/../../x", "..\\x", "sub\\..\\..\\x"})
    void modulePathsLeavingTheDirectoryAreRefused(String path) throws IOException {
        Path model = Files.createDirectories(dir.resolve("model"));
        Files.createDirectories(dir.resolve("x"));
        Files.writeString(dir.resolve("x/config.json"), "{\"pooling_mode_cls_token\": true}");
        Files.writeString(
                model.resolve(SentenceConfig.MODULES),
                "[{\"path\": \"" + path.replace("\\", "\\\\")
                        + "\", \"type\": \"sentence_transformers.models.Pooling\"}]");
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> SentenceConfig.read(model));
        assertMessage(e, model.resolve(SentenceConfig.MODULES).toString(), "module path", "leaves the model directory");
    }

    @Test
    void poolingModuleWithoutItsConfigIsRefused() throws IOException {
        Files.writeString(dir.resolve(SentenceConfig.MODULES), MODULES_WITHOUT_NORMALIZE);
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> SentenceConfig.read(dir));
        assertMessage(e, dir.resolve("1_Pooling/config.json").toString(), "config.json is missing");
    }

    @ParameterizedTest
    @ValueSource(strings = {"{\"idx\": 0}", "\"modules\"", "{not json", ""})
    void malformedModulesJsonIsRefused(String content) throws IOException {
        Path f = dir.resolve(SentenceConfig.MODULES);
        Files.writeString(f, content);
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> SentenceConfig.read(dir));
        assertMessage(e, f.toString());
    }

    @Test
    void malformedPoolingConfigIsRefused() throws IOException {
        Files.writeString(dir.resolve(SentenceConfig.MODULES), MODULES_WITHOUT_NORMALIZE);
        Files.createDirectories(dir.resolve("1_Pooling"));
        Files.writeString(dir.resolve("1_Pooling/config.json"), "{\"pooling_mode_cls_token\": tru");
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> SentenceConfig.read(dir));
        assertMessage(e, dir.resolve("1_Pooling/config.json").toString(), "not valid JSON");
    }

    @ParameterizedTest
    @EnumSource(Pooling.class)
    void writeThenReadRoundTrips(Pooling pooling) throws IOException {
        for (SentenceConfig c :
                new SentenceConfig[] {new SentenceConfig(pooling, true, 256), new SentenceConfig(pooling, false, 0)}) {
            Path d = Files.createTempDirectory(dir, "m");
            c.write(d, 384);
            assertEquals(c, SentenceConfig.read(d));
            assertTrue(Files.readString(d.resolve("1_Pooling/config.json"))
                    .contains("\"word_embedding_dimension\" : 384"));
            assertEquals(c.maxSeqLength() > 0, Files.exists(d.resolve(SentenceConfig.SBERT)));
        }
    }

    private void pooling(String sub, boolean cls, boolean mean, boolean max) throws IOException {
        Path d = Files.createDirectories(dir.resolve(sub));
        Files.writeString(
                d.resolve("config.json"),
                "{\"word_embedding_dimension\": 384,"
                        + " \"pooling_mode_cls_token\": " + cls + ", \"pooling_mode_mean_tokens\": " + mean
                        + ", \"pooling_mode_max_tokens\": " + max + ", \"pooling_mode_mean_sqrt_len_tokens\": false}");
    }

    private static void assertMessage(Exception e, String... fragments) {
        for (String s : fragments) {
            assertTrue(e.getMessage().contains(s), () -> "message '" + e.getMessage() + "' lacks '" + s + "'");
        }
    }
}

package dev.attune.app.job;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.attune.model.builtin.BuiltinModels;
import dev.attune.runtime.AttuneRuntime;
import java.nio.file.Path;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** {@code --model DIR} reaches the executors as spark.attune.model: they preload that model, not the default. */
@Timeout(120)
class ScoringJobModelTest {

    @Test
    void executorsPreloadTheModelTheJobNames() {
        // A real model directory other than the default spec: the built-in model's converted copy.
        String dir = BuiltinModels.resolve("builtin:all-MiniLM-L6-v2").toString();
        ScoringJob.Options o = ScoringJob.parse(
                new String[] {"--input", "in.jsonl", "--output", "out", "--model", dir, "--master", "local[1]"});
        SparkSession spark = ScoringJob.session(o);
        try {
            assertEquals(dir, spark.sparkContext().getConf().get("spark.attune.model"));
            AttuneRuntime rt = AttuneRuntime.currentOrNull();
            assertTrue(rt.models().isLoaded(dir), "the executor preloaded the job's model");
            assertFalse(rt.models().isLoaded("builtin:all-MiniLM-L6-v2"), "and not the default one");
        } finally {
            spark.stop();
        }
    }

    @Test
    void aModelOptionAndAConfThatDisagreeAreRefused() {
        var e = assertThrows(
                IllegalArgumentException.class,
                () -> ScoringJob.parse(new String[] {
                    "--input",
                    "i",
                    "--output",
                    "o",
                    "--model",
                    Path.of("a").toString(),
                    "--conf",
                    "spark.attune.model=builtin:bge-small-en-v1.5"
                }));
        assertTrue(e.getMessage().contains("name different models"), e.getMessage());
    }
}

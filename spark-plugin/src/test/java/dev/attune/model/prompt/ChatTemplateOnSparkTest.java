package dev.attune.model.prompt;

import static dev.attune.model.prompt.ChatTemplateFixturesTest.resource;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.attune.testing.SparkSessions;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import org.apache.spark.api.java.function.MapPartitionsFunction;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Encoders;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * jinjava and Spark on one classpath (Guava, Jackson, commons-lang3 are shared): Spark tasks
 * load the Qwen3 chat template from the model directory and render rows concurrently, with the
 * same results as on the driver.
 */
@Timeout(180)
class ChatTemplateOnSparkTest {

    /** Loads the template once per partition, as an executor would per model. */
    static final class Render implements MapPartitionsFunction<String, String> {
        private final String modelDir;

        Render(String modelDir) {
            this.modelDir = modelDir;
        }

        @Override
        public Iterator<String> call(Iterator<String> rows) {
            ChatTemplate t = ChatTemplate.load(Path.of(modelDir)).orElseThrow();
            List<String> out = new ArrayList<>();
            while (rows.hasNext()) {
                String q = rows.next();
                out.add(t.render(
                        List.of(ChatMessage.system("Answer in one word."), ChatMessage.user(q)),
                        true,
                        Map.of("enable_thinking", false)));
            }
            return out.iterator();
        }
    }

    @Test
    void tasksRenderAsTheDriverDoes() {
        Path dir = resource("tokenizers/qwen3");
        List<String> questions = new ArrayList<>();
        for (int i = 0; i < 64; i++) {
            questions.add("Question " + i + ": what is " + i + " squared? é中🎉 {{ x }}");
        }
        ChatTemplate t = ChatTemplate.load(dir).orElseThrow();
        List<String> expected = new ArrayList<>();
        for (String q : questions) {
            expected.add(t.render(
                    List.of(ChatMessage.system("Answer in one word."), ChatMessage.user(q)),
                    true,
                    Map.of("enable_thinking", false)));
        }
        SparkSession spark = SparkSessions.start("local[2]", Map.of());
        try {
            Dataset<String> ds =
                    spark.createDataset(questions, Encoders.STRING()).coalesce(4);
            List<String> got = ds.mapPartitions(new Render(dir.toString()), Encoders.STRING())
                    .collectAsList();
            assertEquals(expected, got);
        } finally {
            spark.stop();
        }
    }
}

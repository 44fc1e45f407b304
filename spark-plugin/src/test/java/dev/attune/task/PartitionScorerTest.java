package dev.attune.task;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.attune.model.ModelFormatException;
import dev.attune.model.builtin.BuiltinModels;
import dev.attune.runtime.AttuneRuntime;
import dev.attune.runtime.OnError;
import dev.attune.runtime.RowFailure;
import dev.attune.runtime.ScoredRow;
import dev.attune.runtime.metrics.AttuneMetrics;
import dev.attune.spark.conf.AttuneConf;
import dev.attune.testing.ModelCopies;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The scorer's row policy without Spark (Spark itself replaces unpaired surrogates with '?', see
 * {@code RowErrorsTest}): a text with an unpaired UTF-16 surrogate fails the chunk naming the row
 * with {@code onError=fail}, and gets a null result and an error with {@code onError=null} while
 * every other row is scored; a model without a classification head is not a row error.
 */
@Timeout(120)
class PartitionScorerTest {

    static final String MODEL = "builtin:all-MiniLM-L6-v2";

    private static AttuneRuntime rt;
    private static AttuneMetrics metrics;

    @BeforeAll
    static void start() {
        metrics = AttuneMetrics.detached();
        rt = AttuneRuntime.start("unit", AttuneConf.parse(Map.of()), List.of(), metrics);
    }

    @AfterAll
    static void stop() {
        AttuneRuntime.stop();
    }

    @Test
    void aForcedPathTheDeviceCannotRunFailsTheTaskEvenWithOnErrorNull() {
        AttuneRuntime forced = AttuneRuntime.start(
                "unit-forced",
                AttuneConf.parse(
                        Map.of("spark.attune.simulate.devices", "*=T4", "spark.attune.attention.path", "flash-sm80")),
                List.of(),
                AttuneMetrics.detached());
        try {
            PartitionScorer s = new PartitionScorer(forced, MODEL, TaskKind.EMBED, 0, OnError.NULL, 0);
            var e = assertThrows(
                    dev.attune.kernels.select.UnsupportedPathException.class,
                    () -> s.score(List.of("one", "two"), List.of("1", "2"), null));
            assertTrue(e.getMessage().contains("Tesla T4") && e.getMessage().contains("flash-sm80"), e.getMessage());
        } finally {
            // restore the runtime the other tests use
            rt = AttuneRuntime.start("unit", AttuneConf.parse(Map.of()), List.of(), metrics);
        }
    }

    @Test
    void textOverTheLimitIsARowError() {
        assertNull(PartitionScorer.check("x".repeat(10), 10));
        assertTrue(PartitionScorer.check("x".repeat(11), 10)
                .contains("11 characters, more than spark.attune.maxTextChars=10"));
    }

    @Test
    void surrogateCheck() {
        assertNull(PartitionScorer.check("plain", 1000));
        assertNull(PartitionScorer.check(null, 1000));
        assertNull(PartitionScorer.check("emoji \uD83D\uDE00 is a pair", 1000));
        assertTrue(PartitionScorer.check("bad \uD800 text", 1000).contains("unpaired UTF-16 surrogate at character 4"));
        assertTrue(PartitionScorer.check("ends high \uD83D", 1000).contains("at character 10"));
        assertTrue(PartitionScorer.check("\uDE00 low first", 1000).contains("at character 0"));
        assertTrue(PartitionScorer.check("two highs \uD83D\uD83D\uDE00", 1000).contains("at character 10"));
    }

    @Test
    void failNamesTheRow() {
        PartitionScorer s = new PartitionScorer(rt, MODEL, TaskKind.EMBED, 0, OnError.FAIL, 0);
        RowFailure e = assertThrows(
                RowFailure.class,
                () -> s.score(List.of("fine", "bad \uD800 text", "also fine"), List.of("r-1", "r-2", "r-3"), null));
        assertTrue(e.getMessage().startsWith("row r-2: text has an unpaired UTF-16 surrogate"), e.getMessage());
    }

    @Test
    void aNonFiniteResultIsARowErrorNamingModelAndPath(@TempDir Path dir) throws Exception {
        String huge = ModelCopies.overflowing(BuiltinModels.resolve(MODEL), dir.resolve("huge"))
                .toString();
        List<ScoredRow> out = new PartitionScorer(rt, huge, TaskKind.EMBED, 0, OnError.NULL, 0)
                .score(Arrays.asList("a sentence", null), List.of("a", "b"), null);
        assertNull(out.get(0).vector(), "no NaN vector reaches the output");
        assertTrue(
                out.get(0).error().startsWith("row a: model " + huge + " on path cpu-flash gave "),
                out.get(0).error());
        assertTrue(
                out.get(0).error().contains("(non-finite output)"), out.get(0).error());
        assertNull(out.get(1).error(), "a null text is still no error");
        var e = assertThrows(
                RowFailure.class,
                () -> new PartitionScorer(rt, huge, TaskKind.EMBED, 0, OnError.FAIL, 0)
                        .score(List.of("a sentence"), List.of("a"), null));
        assertTrue(e.getMessage().contains("non-finite output"), e.getMessage());
    }

    @Test
    void nullKeepsEveryOtherRow() {
        long failedBefore = metrics.registry().counter("failedRows").getCount();
        PartitionScorer s = new PartitionScorer(rt, MODEL, TaskKind.EMBED, 0, OnError.NULL, 0);
        List<String> texts = Arrays.asList("fine", "bad \uD800 text", null, "also fine", "\uDC00");
        List<ScoredRow> out = s.score(texts, List.of("a", "b", "c", "d", "e"), null);
        assertEquals(texts.size(), out.size());
        for (int i : new int[] {0, 3}) {
            assertEquals(384, out.get(i).vector().length);
            assertNull(out.get(i).error());
        }
        assertNull(out.get(2).vector(), "null text");
        assertNull(out.get(2).error(), "a null text is not an error");
        for (int i : new int[] {1, 4}) {
            assertNull(out.get(i).vector());
            assertNotNull(out.get(i).error());
            assertTrue(
                    out.get(i).error().startsWith("row " + "abcde".charAt(i) + ": "),
                    out.get(i).error());
            assertTrue(
                    out.get(i).error().contains("unpaired UTF-16 surrogate"),
                    out.get(i).error());
        }
        assertEquals(2, metrics.registry().counter("failedRows").getCount() - failedBefore);
    }

    @Test
    void onlyBadRowsGiveNoBatch() {
        PartitionScorer s = new PartitionScorer(rt, MODEL, TaskKind.EMBED, 0, OnError.NULL, 0);
        long batches = metrics.registry().counter("batches").getCount();
        List<ScoredRow> out = s.score(List.of("\uD800"), List.of("x"), null);
        assertNotNull(out.get(0).error());
        assertEquals(batches, metrics.registry().counter("batches").getCount(), "nothing to run, no batch counted");
    }

    @Test
    void modelWithoutHeadIsNotARowError() {
        PartitionScorer s = new PartitionScorer(rt, MODEL, TaskKind.CLASSIFY, 0, OnError.NULL, 0);
        ModelFormatException e = assertThrows(
                ModelFormatException.class, () -> s.score(List.of("fine", "\uD800"), List.of("a", "b"), null));
        assertTrue(e.getMessage().contains("sequence-classification head"), e.getMessage());
    }
}

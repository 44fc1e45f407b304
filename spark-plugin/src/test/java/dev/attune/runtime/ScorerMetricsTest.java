package dev.attune.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.codahale.metrics.MetricRegistry;
import dev.attune.model.builtin.BuiltinModels;
import dev.attune.model.tokenizer.TextTokenizer;
import dev.attune.runtime.metrics.AttuneMetrics;
import dev.attune.spark.conf.AttuneConf;
import dev.attune.task.PartitionScorer;
import dev.attune.task.TaskKind;
import dev.attune.testing.ModelCopies;
import dev.attune.testing.TestTexts;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The executor metrics the scorer records, without Spark, on a simulated T4: rows and tokens are
 * what the device computed (null texts and failed rows excluded; tokens as the tokenizer counts
 * them, after truncation), one batch per batch the device ran with a timer per attention path, failed
 * rows, model loads, and fp16 overflows re-run in fp32 (forced with a model whose embedding
 * LayerNorm is scaled past fp16's range).
 */
@Timeout(120)
class ScorerMetricsTest {

    static final String MINILM = "builtin:all-MiniLM-L6-v2";

    @TempDir
    Path tmp;

    @AfterEach
    void stop() {
        AttuneRuntime.stop();
    }

    static AttuneRuntime t4(AttuneMetrics metrics) {
        return AttuneRuntime.start(
                "unit", AttuneConf.parse(Map.of("spark.attune.simulate.devices", "unit=T4")), List.of(), metrics);
    }

    static long count(MetricRegistry r, String counter) {
        return r.counter(counter).getCount();
    }

    @Test
    void rowsTokensBatchesTimersAndFailures() {
        AttuneMetrics metrics = AttuneMetrics.detached();
        AttuneRuntime rt = t4(metrics);
        List<String> good = new ArrayList<>(TestTexts.VARIED.subList(0, 6));
        good.add(TestTexts.longParagraph()); // truncated to 256 tokens
        List<String> texts = new ArrayList<>(good);
        texts.add(2, null);
        texts.add(5, "bad \uD800 text");
        texts.add(null);
        List<String> ids = new ArrayList<>();
        for (int i = 0; i < texts.size(); i++) {
            ids.add("r" + i);
        }
        List<ScoredRow> out =
                new PartitionScorer(rt, MINILM, TaskKind.EMBED, 2, OnError.NULL, 0).score(texts, ids, null);

        long tokens;
        try (TextTokenizer t = TextTokenizer.load(BuiltinModels.resolve(MINILM), 256)) {
            tokens = good.stream().mapToLong(x -> t.encode(x).length()).sum();
        }
        MetricRegistry r = metrics.registry();
        assertEquals(good.size(), count(r, "rows"), "rows the device computed");
        assertEquals(tokens, count(r, "tokens"), "tokens the device computed");
        long batches = count(r, "batches");
        assertTrue(batches >= (good.size() + 1) / 2 && batches <= good.size(), "batches of at most 2 rows: " + batches);
        assertEquals(1, count(r, "failedRows"));
        assertEquals(1, count(r, "modelLoads"));
        assertEquals(0, count(r, "precisionFallbacks"));

        Set<String> paths =
                out.stream().map(ScoredRow::path).filter(p -> p != null).collect(Collectors.toCollection(TreeSet::new));
        assertTrue(paths.contains("flash-sm75"), "a T4 runs Turing flash: " + paths);
        assertEquals(
                paths.stream().map(p -> "time." + p).collect(Collectors.toCollection(TreeSet::new)),
                new TreeSet<>(r.getTimers().keySet()),
                "one timer per path the rows were computed on");
        assertEquals(
                batches,
                r.getTimers().values().stream()
                        .mapToLong(com.codahale.metrics.Timer::getCount)
                        .sum(),
                "every batch is timed once");
        assertNotNull(r.getGauges().get("memoryInUseBytes"));
    }

    @Test
    void fp16OverflowReRunInFp32IsCounted() throws Exception {
        Path overflow = ModelCopies.scaled(
                BuiltinModels.resolve(MINILM), tmp.resolve("overflow"), "embeddings.LayerNorm.weight", 1e5f);
        AttuneMetrics metrics = AttuneMetrics.detached();
        AttuneRuntime rt = t4(metrics);
        List<ScoredRow> out = new PartitionScorer(rt, overflow.toString(), TaskKind.EMBED, 8, OnError.FAIL, 0)
                .score(Arrays.asList("hello world", "another short text", null), List.of("a", "b", "c"), null);
        assertEquals(1, count(metrics.registry(), "batches"));
        assertEquals(1, count(metrics.registry(), "precisionFallbacks"), "the fp16 batch overflowed and was re-run");
        // Flash has no fp32 kernel; asked again in fp32, the selector gives these short rows math.
        assertEquals("math", out.get(0).path(), "the fp32 re-run leaves the fp16-only flash path");
        assertEquals(Set.of("time.math"), metrics.registry().getTimers().keySet());
    }
}

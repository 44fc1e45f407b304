package dev.attune.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.codahale.metrics.MetricRegistry;
import com.codahale.metrics.Timer;
import dev.attune.model.builtin.BuiltinModels;
import dev.attune.model.tokenizer.TextTokenizer;
import dev.attune.runtime.AttuneRuntime;
import dev.attune.spark.ml.TextEmbedder;
import dev.attune.testing.SparkSessions;
import dev.attune.testing.TestTexts;
import java.lang.management.ManagementFactory;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;
import javax.management.MBeanServer;
import javax.management.ObjectName;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The executor plugin's metrics after a {@link TextEmbedder} job in local mode: the plugin's
 * registry ({@code PluginContext.metricRegistry()}, reached through {@link AttuneRuntime}) counts
 * the non-null rows, their tokens (as the tokenizer counts them) and the batches, with a timer
 * {@code time.<path>} per attention path the rows report; and the same counters are published
 * through Spark's metrics system to JMX (with {@code JmxSink}). On a cluster an executor's names are
 * {@code <app id>.<executor id>.plugin.dev.attune.spark.AttunePlugin.<metric>}; in local mode Spark
 * registers the executor's plugin source before the application id exists, so the MBean is
 * {@code metrics:name=plugin.dev.attune.spark.AttunePlugin.<metric>,type=counters}.
 */
@Timeout(180)
class MetricsTest {

    private static SparkSession spark;
    private static List<String> texts;
    private static List<Row> rows;

    @BeforeAll
    static void start() {
        spark = SparkSessions.start(
                "local[2]", Map.of("spark.metrics.conf.*.sink.jmx.class", "org.apache.spark.metrics.sink.JmxSink"));
        texts = new ArrayList<>(TestTexts.VARIED.subList(0, 30));
        texts.add(TestTexts.longParagraph());
        texts.add(3, null);
        texts.add(null);
        List<Row> in = new ArrayList<>();
        for (int i = 0; i < texts.size(); i++) {
            in.add(RowFactory.create((long) i, texts.get(i)));
        }
        StructType schema = new StructType().add("id", DataTypes.LongType).add("text", DataTypes.StringType);
        Dataset<Row> df = spark.createDataFrame(in, schema).repartition(3);
        rows = new TextEmbedder()
                .setBatchSize(4)
                .setPathCol("path")
                .transform(df)
                .collectAsList();
    }

    @AfterAll
    static void stop() {
        if (spark != null) {
            spark.stop();
        }
    }

    static long nonNull() {
        return texts.stream().filter(t -> t != null).count();
    }

    @Test
    void pluginRegistryCountsRowsTokensBatchesAndTimesEachPath() {
        AttuneRuntime rt = AttuneRuntime.currentOrNull();
        assertNotNull(rt, "the executor plugin started the runtime");
        assertEquals("driver", rt.executorId());
        MetricRegistry r = rt.metrics().registry();

        long tokens;
        try (TextTokenizer t = TextTokenizer.load(BuiltinModels.resolve("builtin:all-MiniLM-L6-v2"), 256)) {
            tokens = texts.stream()
                    .filter(x -> x != null)
                    .mapToLong(x -> t.encode(x).length())
                    .sum();
        }
        assertEquals(texts.size(), rows.size());
        assertEquals(nonNull(), r.counter("rows").getCount(), "rows: the non-null texts");
        assertEquals(tokens, r.counter("tokens").getCount(), "tokens of the non-null texts");
        long batches = r.counter("batches").getCount();
        // Batches of at most 4 rows in 3 partitions.
        assertTrue(batches >= (nonNull() + 3) / 4 && batches <= nonNull(), "batches: " + batches);
        assertEquals(0, r.counter("failedRows").getCount());
        assertEquals(1, r.counter("modelLoads").getCount(), "the model is loaded once");

        Set<String> paths = rows.stream()
                .map(x -> x.getString(3))
                .filter(p -> p != null)
                .collect(Collectors.toCollection(TreeSet::new));
        assertTrue(!paths.isEmpty() && paths.stream().allMatch(p -> p.startsWith("cpu-")), "CPU paths: " + paths);
        assertEquals(
                paths.stream().map(p -> "time." + p).collect(Collectors.toCollection(TreeSet::new)),
                new TreeSet<>(r.getTimers().keySet()));
        assertEquals(
                batches,
                r.getTimers().values().stream().mapToLong(Timer::getCount).sum());
    }

    @Test
    void countersArePublishedThroughJmx() throws Exception {
        MBeanServer server = ManagementFactory.getPlatformMBeanServer();
        // Spark names a source <app id>.<executor id>.<source>; in local mode the executor (and its
        // plugin source) is made while the SparkContext starts, before the application id is set,
        // so Spark registers the plugin's metrics under the bare source name.
        String prefix = "plugin." + AttunePlugin.class.getName() + ".";
        MetricRegistry r = AttuneRuntime.currentOrNull().metrics().registry();
        for (String counter : List.of("rows", "tokens", "batches", "failedRows", "modelLoads", "precisionFallbacks")) {
            ObjectName name = new ObjectName("metrics:name=" + prefix + counter + ",type=counters");
            Set<ObjectName> found = server.queryNames(name, null);
            if (found.isEmpty()) {
                Set<String> attune = server.queryNames(null, null).stream()
                        .map(ObjectName::toString)
                        .filter(n -> n.contains("AttunePlugin"))
                        .collect(Collectors.toCollection(TreeSet::new));
                throw new AssertionError("no MBean " + name + "; Attune MBeans: " + attune);
            }
            assertEquals(
                    r.counter(counter).getCount(), ((Number) server.getAttribute(name, "Count")).longValue(), counter);
        }
        ObjectName rowsName = new ObjectName("metrics:name=" + prefix + "rows,type=counters");
        assertEquals(nonNull(), ((Number) server.getAttribute(rowsName, "Count")).longValue());
        Set<ObjectName> timers = server.queryNames(new ObjectName("metrics:type=timers,*"), null);
        assertTrue(
                timers.stream().anyMatch(n -> n.getKeyProperty("name").startsWith(prefix + "time.cpu-")),
                timers::toString);
    }
}

package dev.attune.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.attune.kernels.attention.CpuMathAttention;
import dev.attune.kernels.cpu.CpuThreads;
import dev.attune.model.EncoderModel;
import dev.attune.model.builtin.BuiltinModels;
import dev.attune.runtime.inventory.ExecutorInventory;
import dev.attune.spark.ml.TextEmbedder;
import dev.attune.task.EncoderScoring;
import dev.attune.testing.SparkSessions;
import dev.attune.testing.TestTexts;
import dev.attune.testing.Vectors;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
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
 * Spark local mode with the plugin: one executor (the driver JVM) given two simulated GPUs, a T4
 * and an A100. Each task uses one of them, each device runs its own path, every embedding matches
 * the CPU reference within that path's tolerance, and the model was loaded once.
 */
@Timeout(300)
class LocalModeTest {

    private static SparkSession spark;
    private static List<String> texts;
    private static float[][] reference;

    @BeforeAll
    static void start() {
        texts = new ArrayList<>(TestTexts.VARIED);
        try (EncoderModel m = EncoderModel.load(BuiltinModels.resolve("builtin:all-MiniLM-L6-v2"));
                CpuThreads t = new CpuThreads(2)) {
            reference = EncoderScoring.embed(m, texts, 16, 4096, new CpuMathAttention(), t);
        }
        spark = SparkSessions.start("local[2]", Map.of("spark.attune.simulate.devices", "driver=T4+A100"));
    }

    @AfterAll
    static void stop() {
        spark.stop();
    }

    static Dataset<Row> textFrame(SparkSession spark, List<String> texts, int partitions) {
        List<Row> rows = new ArrayList<>();
        for (int i = 0; i < texts.size(); i++) {
            rows.add(RowFactory.create((long) i, texts.get(i)));
        }
        StructType schema = new StructType().add("id", DataTypes.LongType).add("text", DataTypes.StringType);
        return spark.createDataFrame(rows, schema).repartition(partitions);
    }

    @Test
    void twoDevicesInOneExecutorEachRunTheirOwnPath() {
        Dataset<Row> out = new TextEmbedder()
                .setInputCol("text")
                .setOutputCol("embedding")
                .setPathCol("path")
                .setDeviceCol("device")
                .setIdCol("id")
                .transform(textFrame(spark, texts, 4));
        List<Row> rows = out.collectAsList();
        assertEquals(texts.size(), rows.size());
        Set<String> pairs = new HashSet<>();
        for (Row r : rows) {
            int id = (int) r.getLong(0);
            String path = r.getString(3);
            String device = r.getString(4);
            pairs.add(device + " " + path);
            assertTrue(
                    Vectors.cosine(Vectors.toArray(r.getList(2)), reference[id]) >= 0.999,
                    "row " + id + " on " + device + " " + path);
        }
        assertEquals(Set.of("Tesla T4 (simulated) flash-sm75", "NVIDIA A100-SXM4-40GB (simulated) flash-sm80"), pairs);
        ExecutorInventory inv = ClusterInventory.executors().get("driver");
        assertEquals(1, inv.modelLoads(), "the model is loaded once per executor");
        assertEquals(2, inv.devices().size());
    }

    @Test
    void nullTextGivesNullEmbedding() {
        List<String> withNull = new ArrayList<>(List.of("one", "two"));
        withNull.add(null);
        List<Row> rows = new TextEmbedder()
                .transform(textFrame(spark, withNull, 1))
                .orderBy("id")
                .collectAsList();
        assertEquals(384, rows.get(0).getList(2).size());
        assertNull(rows.get(2).get(2));
    }
}

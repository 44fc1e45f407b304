package dev.attune.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
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
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Two executor JVMs ({@code local-cluster[2,1,1024]}), one given a simulated T4 and the other a
 * simulated A100, run ONE job: every row records the device and path that produced it, both
 * paths occur, every embedding matches the CPU reference within fp16 tolerance, and each executor
 * loaded the model exactly once (from the inventories the executors sent the driver).
 */
@Timeout(420)
class LocalClusterTest {

    @Test
    void mixedDevicesInOneJob() throws Exception {
        List<String> texts = new ArrayList<>(TestTexts.VARIED);
        float[][] reference;
        try (EncoderModel m = EncoderModel.load(BuiltinModels.resolve("builtin:all-MiniLM-L6-v2"));
                CpuThreads t = new CpuThreads(2)) {
            reference = EncoderScoring.embed(m, texts, 16, 4096, new CpuMathAttention(), t);
        }
        Map<String, String> conf = new HashMap<>();
        conf.put("spark.attune.simulate.devices", "0=T4,1=A100");
        conf.put("spark.attune.cache.dir", BuiltinModels.cacheRoot().toString());
        conf.put("spark.executor.memory", "1g");
        SparkSession spark = SparkSessions.start("local-cluster[2,1,1024]", conf);
        try {
            List<Row> rows = new TextEmbedder()
                    .setPathCol("path")
                    .setDeviceCol("device")
                    .setIdCol("id")
                    .transform(LocalModeTest.textFrame(spark, texts, 8))
                    .collectAsList();
            assertEquals(texts.size(), rows.size());
            Map<String, Integer> perDevicePath = new HashMap<>();
            for (Row r : rows) {
                int id = (int) r.getLong(0);
                perDevicePath.merge(r.getString(4) + " " + r.getString(3), 1, Integer::sum);
                assertTrue(Vectors.cosine(Vectors.toArray(r.getList(2)), reference[id]) >= 0.999, "row " + id);
            }
            assertEquals(2, perDevicePath.size(), perDevicePath.toString());
            assertTrue(perDevicePath.containsKey("Tesla T4 (simulated) flash-sm75"), perDevicePath.toString());
            assertTrue(
                    perDevicePath.containsKey("NVIDIA A100-SXM4-40GB (simulated) flash-sm80"),
                    perDevicePath.toString());

            // Inventories arrive asynchronously over RPC: wait for both executors' reports after the job.
            long deadline = System.currentTimeMillis() + 30_000;
            Map<String, ExecutorInventory> inv = ClusterInventory.executors();
            while ((inv.size() < 2 || inv.values().stream().anyMatch(e -> e.modelLoads() < 1))
                    && System.currentTimeMillis() < deadline) {
                Thread.sleep(200);
                inv = ClusterInventory.executors();
            }
            assertEquals(List.of("0", "1"), new ArrayList<>(inv.keySet()));
            for (ExecutorInventory e : inv.values()) {
                assertEquals(1, e.modelLoads(), "executor " + e.executorId() + " loaded the model once");
                assertEquals(1, e.devices().size());
            }
            assertEquals("flash-sm75", inv.get("0").devices().get(0).path());
            assertEquals("flash-sm80", inv.get("1").devices().get(0).path());
            assertTrue(ClusterInventory.table().contains("Tesla T4 (simulated)"));

            // An executor Spark removes leaves the cluster table.
            spark.sparkContext().killExecutor("1");
            deadline = System.currentTimeMillis() + 30_000;
            while (ClusterInventory.executors().containsKey("1") && System.currentTimeMillis() < deadline) {
                Thread.sleep(200);
            }
            assertEquals(
                    List.of("0"), new ArrayList<>(ClusterInventory.executors().keySet()));
        } finally {
            spark.stop();
        }
    }
}

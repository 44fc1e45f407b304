package dev.attune.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.attune.kernels.cpu.CpuThreads;
import dev.attune.kernels.device.DeviceInfo;
import dev.attune.kernels.select.UserOverrides;
import dev.attune.model.EncoderModel;
import dev.attune.model.ModelFormatException;
import dev.attune.runtime.DeviceRunner;
import dev.attune.spark.ml.TextClassifier;
import dev.attune.task.EncoderScoring;
import dev.attune.testing.Causes;
import dev.attune.testing.ClassifierCheckpoint;
import dev.attune.testing.SparkSessions;
import dev.attune.testing.TestTexts;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
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
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link TextClassifier} in local mode on the CPU, and {@link EncoderModel#classify} without Spark,
 * against an independent expectation: a {@code BertForSequenceClassification} checkpoint built in
 * the test from MiniLM plus a random pooler and classifier ({@link ClassifierCheckpoint}), whose
 * labels and probabilities are computed from ONNX Runtime's hidden states with the head applied in
 * the test. A model without a classification head is refused with a clear message.
 */
@Timeout(180)
class TextClassifierTest {

    static final double TOL = 1e-4;

    @TempDir
    static Path tmp;

    private static SparkSession spark;
    private static ClassifierCheckpoint checkpoint;
    private static List<String> texts;
    private static double[][] expected;

    @BeforeAll
    static void start() throws Exception {
        checkpoint = ClassifierCheckpoint.build(tmp.resolve("classifier"), 20261122L);
        texts = new ArrayList<>();
        for (int i = 0; i < TestTexts.VARIED.size() && texts.size() < 20; i += 3) {
            texts.add(TestTexts.VARIED.get(i));
        }
        texts.add(TestTexts.longParagraph()); // truncated to 256 tokens on both sides
        expected = checkpoint.expected(texts);
        // The test is only meaningful when the random head does not give every text the same label.
        assertEquals(
                2,
                new HashSet<>(ClassifierCheckpoint.labels(expected)).size(),
                "the random head should predict both labels over the test texts: "
                        + ClassifierCheckpoint.labels(expected));
        spark = SparkSessions.start("local[2]", Map.of());
    }

    @AfterAll
    static void stop() {
        if (spark != null) {
            spark.stop();
        }
    }

    static Dataset<Row> frame(SparkSession spark, List<String> texts, int partitions) {
        List<Row> rows = new ArrayList<>();
        for (int i = 0; i < texts.size(); i++) {
            rows.add(RowFactory.create((long) i, texts.get(i)));
        }
        StructType schema = new StructType().add("id", DataTypes.LongType).add("text", DataTypes.StringType);
        return spark.createDataFrame(rows, schema).repartition(partitions);
    }

    @Test
    void sparkClassifierMatchesTheIndependentHead() {
        List<String> withNull = new ArrayList<>(texts);
        withNull.add(null);
        Dataset<Row> out = new TextClassifier()
                .setModel(checkpoint.dir().toString())
                .setInputCol("text")
                .setOutputCol("label")
                .setScoreCol("score")
                .setProbabilitiesCol("probs")
                .setIdCol("id")
                .setDeviceCol("device")
                .transform(frame(spark, withNull, 3));
        assertEquals(
                List.of("id", "text", "label", "score", "probs", "device"),
                List.of(out.schema().fieldNames()));
        List<Row> rows = out.orderBy("id").collectAsList();
        assertEquals(withNull.size(), rows.size());
        for (Row r : rows) {
            int id = (int) r.getLong(0);
            if (id == texts.size()) {
                assertNull(r.get(2), "null text: null label");
                assertNull(r.get(3), "null text: null score");
                assertNull(r.get(4), "null text: null probabilities");
                continue;
            }
            double[] want = expected[id];
            String what = "text " + id + " '" + texts.get(id) + "'";
            assertEquals(ClassifierCheckpoint.LABELS.get(ClassifierCheckpoint.argmax(want)), r.getString(2), what);
            assertEquals(want[ClassifierCheckpoint.argmax(want)], r.getDouble(3), TOL, what);
            List<Float> probs = r.getList(4);
            assertEquals(want.length, probs.size(), what);
            for (int l = 0; l < want.length; l++) {
                assertEquals(want[l], probs.get(l), TOL, what + " label " + l);
            }
            assertEquals("cpu", r.getString(5), "no simulated devices: the CPU scores");
        }
    }

    @Test
    void modelWithoutAClassificationHeadIsRefused() {
        Dataset<Row> out =
                new TextClassifier().setModel("builtin:all-MiniLM-L6-v2").transform(frame(spark, texts, 1));
        Exception e = assertThrows(Exception.class, out::collectAsList);
        assertTrue(Causes.oneMessageContainsAll(e, "sequence-classification head"), () -> Causes.chain(e));
    }

    @Test
    void encoderModelClassifyMatchesTheIndependentHead() {
        try (EncoderModel m = EncoderModel.load(checkpoint.dir());
                CpuThreads threads = new CpuThreads(2)) {
            assertTrue(m.hasClassifier());
            assertEquals(ClassifierCheckpoint.LABELS, m.labels());
            List<String> withNull = new ArrayList<>(texts);
            withNull.add(1, null);
            DeviceRunner cpu = new DeviceRunner(DeviceInfo.cpu(), UserOverrides.NONE, 0.9);
            EncoderScoring.Classification[] got = EncoderScoring.classify(m, withNull, 0, 4, 4096, cpu, threads);
            assertEquals(withNull.size(), got.length);
            assertNull(got[1].probabilities());
            assertNull(got[1].label());
            for (int i = 0, t = 0; i < withNull.size(); i++) {
                if (i == 1) {
                    continue;
                }
                double[] want = expected[t];
                String what = "text " + t + " '" + texts.get(t) + "'";
                assertNotNull(got[i].probabilities(), what);
                assertEquals(ClassifierCheckpoint.LABELS.get(ClassifierCheckpoint.argmax(want)), got[i].label(), what);
                assertEquals(want[ClassifierCheckpoint.argmax(want)], got[i].score(), TOL, what);
                for (int l = 0; l < want.length; l++) {
                    assertEquals(want[l], got[i].probabilities()[l], TOL, what + " label " + l);
                }
                t++;
            }
        }
    }

    @Test
    void encoderModelWithoutHeadRefusesToClassify() {
        try (EncoderModel m =
                        EncoderModel.load(dev.attune.model.builtin.BuiltinModels.resolve("builtin:all-MiniLM-L6-v2"));
                CpuThreads threads = new CpuThreads(1)) {
            assertFalse(m.hasClassifier());
            ModelFormatException e = assertThrows(
                    ModelFormatException.class,
                    () -> EncoderScoring.classify(
                            m,
                            List.of("x"),
                            0,
                            1,
                            1024,
                            new DeviceRunner(DeviceInfo.cpu(), UserOverrides.NONE, 0.9),
                            threads));
            assertTrue(e.getMessage().contains("sequence-classification head"), e.getMessage());
        }
    }
}

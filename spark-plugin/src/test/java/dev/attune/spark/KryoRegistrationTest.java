package dev.attune.spark;

import static org.apache.spark.sql.functions.col;
import static org.apache.spark.sql.functions.count;
import static org.apache.spark.sql.functions.pmod;
import static org.apache.spark.sql.functions.size;
import static org.apache.spark.sql.functions.sum;
import static org.apache.spark.sql.functions.when;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.attune.runtime.OnError;
import dev.attune.runtime.ScoredRow;
import dev.attune.runtime.inventory.DeviceEntry;
import dev.attune.runtime.inventory.ExecutorInventory;
import dev.attune.spark.ml.TextClassifier;
import dev.attune.spark.ml.TextEmbedder;
import dev.attune.task.TaskKind;
import dev.attune.testing.ClassifierCheckpoint;
import dev.attune.testing.SparkSessions;
import dev.attune.testing.TestTexts;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.apache.spark.SparkConf;
import org.apache.spark.serializer.KryoSerializer;
import org.apache.spark.serializer.SerializerInstance;
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
import scala.reflect.ClassTag$;

/**
 * Attune under {@code spark.serializer=KryoSerializer} with {@code spark.kryo.registrationRequired=true}
 * and {@link AttuneKryoRegistrator}: transformer jobs whose results go through shuffles and
 * collects run, and every class the registrator names round-trips through a Kryo serializer
 * instance that requires registration (and fails without the registrator, so the check can fail).
 */
@Timeout(180)
class KryoRegistrationTest {

    static final Map<String, String> KRYO = Map.of(
            "spark.serializer", "org.apache.spark.serializer.KryoSerializer",
            "spark.kryo.registrationRequired", "true",
            "spark.kryo.registrator", "dev.attune.spark.AttuneKryoRegistrator");

    @TempDir
    static Path tmp;

    private static SparkSession spark;
    private static ClassifierCheckpoint checkpoint;

    @BeforeAll
    static void start() throws Exception {
        checkpoint = ClassifierCheckpoint.build(tmp.resolve("classifier"), 20261122L);
        spark = SparkSessions.start("local[2]", KRYO);
    }

    @AfterAll
    static void stop() {
        if (spark != null) {
            spark.stop();
        }
    }

    static Dataset<Row> frame(List<String> texts) {
        List<Row> rows = new ArrayList<>();
        for (int i = 0; i < texts.size(); i++) {
            rows.add(RowFactory.create((long) i, texts.get(i)));
        }
        StructType schema = new StructType().add("id", DataTypes.LongType).add("text", DataTypes.StringType);
        return spark.createDataFrame(rows, schema).repartition(3);
    }

    @Test
    void embeddingsThroughShufflesAndCollect() {
        List<String> texts = new ArrayList<>(TestTexts.VARIED.subList(0, 24));
        texts.add(null);
        Dataset<Row> out = new TextEmbedder()
                .setIdCol("id")
                .setPathCol("path")
                .setDeviceCol("device")
                .transform(frame(texts));
        // Shuffle the embedded rows (array<float> values included), then aggregate after another shuffle.
        Dataset<Row> shuffled = out.repartition(4, col("path"));
        List<Row> groups = shuffled.withColumn("bucket", pmod(col("id"), org.apache.spark.sql.functions.lit(3)))
                .groupBy("bucket")
                .agg(
                        count("*").as("n"),
                        sum(when(col("embedding").isNotNull(), size(col("embedding")))
                                        .otherwise(0))
                                .as("floats"))
                .orderBy("bucket")
                .collectAsList();
        assertEquals(3, groups.size());
        assertEquals(texts.size(), groups.stream().mapToLong(r -> r.getLong(1)).sum());
        assertEquals(
                384L * (texts.size() - 1),
                groups.stream().mapToLong(r -> r.getLong(2)).sum());
        // The embeddings themselves survive a shuffle unchanged.
        List<Row> direct = out.orderBy("id").collectAsList();
        List<Row> viaShuffle = shuffled.orderBy("id").collectAsList();
        assertEquals(direct.size(), viaShuffle.size());
        for (int i = 0; i < direct.size(); i++) {
            assertEquals(direct.get(i).getList(2), viaShuffle.get(i).getList(2), "row " + i);
        }
    }

    @Test
    void classifierThroughAShuffle() {
        List<Row> rows = new TextClassifier()
                .setModel(checkpoint.dir().toString())
                .setProbabilitiesCol("probs")
                .transform(frame(TestTexts.VARIED.subList(0, 12)))
                .repartition(2, col("label"))
                .groupBy("label")
                .count()
                .collectAsList();
        assertEquals(12, rows.stream().mapToLong(r -> r.getLong(1)).sum());
        rows.forEach(r -> assertTrue(ClassifierCheckpoint.LABELS.contains(r.getString(0)), r.toString()));
    }

    static SparkConf kryoConf(boolean withRegistrator) {
        SparkConf conf = new SparkConf(false).set("spark.kryo.registrationRequired", "true");
        if (withRegistrator) {
            conf.set("spark.kryo.registrator", AttuneKryoRegistrator.class.getName());
        }
        return conf;
    }

    @SuppressWarnings("unchecked")
    static <T> T roundTrip(SerializerInstance ser, T value) {
        Class<T> c = (Class<T>) value.getClass();
        return ser.deserialize(ser.serialize(value, ClassTag$.MODULE$.apply(c)), ClassTag$.MODULE$.apply(c));
    }

    @Test
    void registeredClassesRoundTrip() {
        SerializerInstance ser = new KryoSerializer(kryoConf(true)).newInstance();
        DeviceEntry gpu = new DeviceEntry(
                "Tesla T4 (simulated)",
                "7.5",
                true,
                16L << 30,
                15L << 30,
                "flash-sm75",
                "fp16",
                256,
                "sm_75: Turing tensor-core flash");
        DeviceEntry cpu = new DeviceEntry("cpu", "", false, 1L << 33, 1L << 32, "cpu-flash", "fp32", 64, "cpu");
        ExecutorInventory inv = new ExecutorInventory(
                "7",
                List.of(gpu, cpu),
                "builtin:all-MiniLM-L6-v2",
                1,
                1234L,
                567_890L,
                "simulated devices [T4] from spark.attune.simulate.devices");

        DeviceEntry gpu2 = roundTrip(ser, gpu);
        assertNotSame(gpu, gpu2);
        assertEquals(gpu, gpu2);
        ExecutorInventory inv2 = roundTrip(ser, inv);
        assertNotSame(inv, inv2);
        assertEquals(inv, inv2);

        ScoredRow row = new ScoredRow(new float[] {0.25f, -1.5f}, "positive", 0.75, "cpu-flash", "cpu", null);
        ScoredRow row2 = roundTrip(ser, row);
        assertArrayEquals(row.vector(), row2.vector());
        assertEquals(
                Arrays.asList(row.label(), row.score(), row.path(), row.device(), row.error()),
                Arrays.asList(row2.label(), row2.score(), row2.path(), row2.device(), row2.error()));

        assertEquals(TaskKind.CLASSIFY, roundTrip(ser, TaskKind.CLASSIFY));
        assertEquals(OnError.NULL, roundTrip(ser, OnError.NULL));
        assertArrayEquals(new float[] {1f, 2f}, roundTrip(ser, new float[] {1f, 2f}));
        float[][] m = roundTrip(ser, new float[][] {{1f}, {2f, 3f}});
        assertArrayEquals(new float[] {2f, 3f}, m[1]);
    }

    @Test
    void withoutTheRegistratorAttuneClassesAreRefused() {
        SerializerInstance ser = new KryoSerializer(kryoConf(false)).newInstance();
        DeviceEntry cpu = new DeviceEntry("cpu", "", false, 1, 1, "cpu-flash", "fp32", 1, "cpu");
        Exception e = assertThrows(Exception.class, () -> roundTrip(ser, cpu));
        assertTrue(String.valueOf(e.getMessage()).contains(DeviceEntry.class.getName()), e.toString());
    }
}

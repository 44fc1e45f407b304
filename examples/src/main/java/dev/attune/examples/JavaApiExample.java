package dev.attune.examples;

import dev.attune.spark.Attune;
import dev.attune.spark.SparkJvmFlags;
import dev.attune.spark.ml.TextEmbedder;
import java.util.List;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;

/**
 * Attune from Java, without PySpark: the DataFrame transformer and the SQL function on a small
 * table. Run it with {@code spark-submit --class dev.attune.examples.JavaApiExample} or from an IDE
 * (it starts Spark in local mode when no master is set).
 */
public final class JavaApiExample {

    private JavaApiExample() {}

    public static void main(String[] args) {
        SparkSession spark = SparkSession.builder()
                .appName("attune-java-example")
                .master(System.getProperty("spark.master", "local[*]"))
                .config("spark.plugins", "dev.attune.spark.AttunePlugin")
                .config("spark.executor.extraJavaOptions", SparkJvmFlags.JDK17)
                .getOrCreate();
        try {
            run(spark).forEach(r -> System.out.println(r));
        } finally {
            spark.stop();
        }
    }

    /** Embeds a few sentences both ways and returns (id, text, dims, path, device, sql dims, same vector). */
    public static List<Row> run(SparkSession spark) {
        StructType schema = new StructType().add("id", DataTypes.LongType).add("text", DataTypes.StringType);
        Dataset<Row> docs = spark.createDataFrame(
                List.of(
                        RowFactory.create(1L, "Spark executors pick an attention kernel per GPU."),
                        RowFactory.create(2L, "A T4 and an A100 can run the same job."),
                        RowFactory.create(3L, "Old GPUs keep attention memory linear in the sequence length.")),
                schema);

        // 1. The DataFrame API: a Spark ML transformer.
        Dataset<Row> embedded = new TextEmbedder()
                .setModel("builtin:all-MiniLM-L6-v2")
                .setInputCol("text")
                .setOutputCol("embedding")
                .setPathCol("path")
                .setDeviceCol("device")
                .transform(docs);

        // 2. SQL: register the functions in this session (or set spark.sql.extensions).
        Attune.register(spark);
        docs.createOrReplaceTempView("docs");
        Dataset<Row> viaSql = spark.sql("SELECT id, attune_embed(text) AS sql_embedding FROM docs");

        return embedded.join(viaSql, "id")
                .selectExpr(
                        "id",
                        "text",
                        "size(embedding) AS dims",
                        "path",
                        "device",
                        "size(sql_embedding) AS sql_dims",
                        "aggregate(zip_with(embedding, sql_embedding, (a, b) -> abs(a - b)), 0D, (m, x) -> greatest(m, x)) < 1e-5 AS same")
                .orderBy("id")
                .collectAsList();
    }
}

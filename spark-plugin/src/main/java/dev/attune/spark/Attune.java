package dev.attune.spark;

import dev.attune.spark.sql.AttuneFunctions;
import org.apache.spark.sql.SparkSession;

/**
 * One-line registration of Attune's SQL functions in an existing session, for when
 * {@code spark.sql.extensions} cannot be set: {@code Attune.register(spark)}.
 */
public final class Attune {

    private Attune() {}

    public static void register(SparkSession spark) {
        if (!(spark instanceof org.apache.spark.sql.classic.SparkSession classic)) {
            throw new IllegalArgumentException(
                    "Attune.register needs a classic SparkSession (not Spark Connect); "
                            + "with Spark Connect set spark.sql.extensions=dev.attune.spark.sql.AttuneExtensions on the server");
        }
        var registry = classic.sessionState().functionRegistry();
        AttuneFunctions.definitions().forEach(d -> registry.registerFunction(d._1(), d._2(), d._3()));
    }
}

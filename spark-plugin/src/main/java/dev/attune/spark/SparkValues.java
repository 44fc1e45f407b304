package dev.attune.spark;

import java.util.ArrayList;
import java.util.List;

/** Values in the form Spark's row encoders take them. */
public final class SparkValues {

    private SparkValues() {}

    /** An {@code array<float>} column's value: a Scala sequence. */
    public static scala.collection.immutable.Seq<Float> floatSeq(float[] a) {
        List<Float> l = new ArrayList<>(a.length);
        for (float f : a) {
            l.add(f);
        }
        return scala.jdk.javaapi.CollectionConverters.asScala(l).toSeq();
    }
}

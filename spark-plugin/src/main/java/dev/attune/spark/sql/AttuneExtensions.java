package dev.attune.spark.sql;

import org.apache.spark.sql.SparkSessionExtensions;
import scala.Function1;
import scala.runtime.BoxedUnit;

/**
 * Installs Attune's SQL functions in every session:
 * {@code --conf spark.sql.extensions=dev.attune.spark.sql.AttuneExtensions}.
 */
public final class AttuneExtensions implements Function1<SparkSessionExtensions, BoxedUnit> {

    @Override
    public BoxedUnit apply(SparkSessionExtensions extensions) {
        AttuneFunctions.definitions().forEach(extensions::injectFunction);
        return BoxedUnit.UNIT;
    }
}

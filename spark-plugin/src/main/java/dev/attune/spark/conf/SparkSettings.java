package dev.attune.spark.conf;

import dev.attune.runtime.AttuneSettings;
import java.util.HashMap;
import java.util.Map;
import org.apache.spark.SparkConf;
import org.apache.spark.sql.SparkSession;

/**
 * Spark's configurations parsed into {@link AttuneSettings} ({@link AttuneConf#parse}): a
 * SparkConf (an executor's, the driver's) or a session's runtime configuration, which also holds
 * the keys a program set after the session started ({@code spark.conf().set(...)}).
 */
public final class SparkSettings {

    private SparkSettings() {}

    /** @throws AttuneConfigException for a bad {@code spark.attune.*} key or value */
    public static AttuneSettings of(SparkConf conf) {
        return AttuneConf.parse(toMap(conf.getAll()));
    }

    /** @throws AttuneConfigException for a bad {@code spark.attune.*} key or value */
    public static AttuneSettings of(SparkSession session) {
        return AttuneConf.parse(
                scala.jdk.javaapi.CollectionConverters.asJava(session.conf().getAll()));
    }

    /** The active session's settings as the driver sees them now, or the defaults when there is no session. */
    public static AttuneSettings ofActiveSession() {
        SparkSession s = SparkSession.getActiveSession().getOrElse(() -> null);
        return s == null ? AttuneConf.parse(Map.of()) : of(s);
    }

    static Map<String, String> toMap(scala.Tuple2<String, String>[] all) {
        Map<String, String> m = new HashMap<>();
        for (scala.Tuple2<String, String> kv : all) {
            m.put(kv._1(), kv._2());
        }
        return m;
    }
}

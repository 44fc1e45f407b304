package dev.attune.testing;

import java.util.Map;
import org.apache.spark.sql.SparkSession;

/** Spark sessions for tests: local mode, or local-cluster with executor JVMs, with Attune's plugin. */
public final class SparkSessions {

    private SparkSessions() {}

    /** JVM flags executors need on JDK 17 (surefire passes the same list to the test JVM). */
    public static String executorJvmFlags() {
        return System.getProperty("attune.test.jvmFlags", "") + " -Dai.djl.offline=true";
    }

    public static SparkSession start(String master, Map<String, String> conf) {
        SparkSession.Builder b = SparkSession.builder()
                .master(master)
                .appName("attune-test")
                .config("spark.ui.enabled", "false")
                .config("spark.sql.shuffle.partitions", "4")
                .config("spark.driver.host", "127.0.0.1")
                .config("spark.driver.bindAddress", "127.0.0.1")
                .config("spark.executor.extraJavaOptions", executorJvmFlags())
                .config("spark.executorEnv.DJL_OFFLINE", "true")
                .config("spark.plugins", "dev.attune.spark.AttunePlugin");
        conf.forEach(b::config);
        return b.getOrCreate();
    }
}

package dev.attune.app.job;

import java.util.Arrays;
import java.util.List;
import org.apache.logging.log4j.Level;
import org.apache.logging.log4j.core.config.Configurator;

/**
 * {@code bin/attune score ...}: the scoring job from the command line (see {@link ScoringJob}), in
 * Spark local mode unless {@code --master} is given. The job prints each failure as one line; Spark's
 * own logs of the same failure (a failed task's trace on the executor, the scheduler's, the writer's,
 * a failed start's and its shutdown hooks') are turned off unless {@code --verbose}.
 */
public final class ScoreCommand {

    /** The loggers through which Spark and Hadoop repeat, with stack traces, a failure the job reports. */
    static final List<String> FAILURE_LOGGERS = List.of(
            "org.apache.spark.SparkContext",
            "org.apache.spark.executor.Executor",
            "org.apache.spark.scheduler.TaskSetManager",
            "org.apache.spark.scheduler.TaskSchedulerImpl",
            "org.apache.spark.sql.execution.datasources.FileFormatWriter",
            "org.apache.spark.util.Utils",
            "org.apache.spark.util.ShutdownHookManager",
            "org.apache.spark.metrics.MetricsSystem",
            "org.apache.hadoop.util.ShutdownHookManager",
            "org.apache.hadoop.mapreduce.lib.output.FileOutputCommitter");

    private ScoreCommand() {}

    public static int run(String[] args) {
        List<String> a = Arrays.asList(args);
        if (a.contains("--help") || a.contains("-h")) {
            System.out.println(ScoringJob.USAGE); // asked for: standard output
            return 0;
        }
        if (!a.contains("--verbose")) {
            FAILURE_LOGGERS.forEach(l -> Configurator.setLevel(l, Level.OFF));
        }
        String[] withMaster = args;
        if (!a.contains("--master")) {
            withMaster = Arrays.copyOf(args, args.length + 2);
            withMaster[args.length] = "--master";
            withMaster[args.length + 1] = "local[*]";
        }
        return ScoringJob.run(withMaster, System.err);
    }
}

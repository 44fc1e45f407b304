package dev.attune.spark.metrics;

import com.codahale.metrics.Counter;
import com.codahale.metrics.Gauge;
import com.codahale.metrics.MetricRegistry;
import com.codahale.metrics.Timer;

import java.util.concurrent.TimeUnit;

/**
 * Attune's executor metrics, registered in the plugin's metric registry so they reach Spark's
 * metrics sinks (JMX, Prometheus servlet, CSV, ...) under {@code plugin.dev.attune.spark.AttunePlugin.*}:
 * rows, tokens, batches, failed rows, model loads, precision fallbacks, a timer per attention
 * path, and the heap in use for Attune's work.
 *
 * <p>Threading: all updates are thread-safe (Dropwizard metrics).
 */
public final class AttuneMetrics {

    private final MetricRegistry registry;
    private final Counter rows;
    private final Counter tokens;
    private final Counter batches;
    private final Counter failedRows;
    private final Counter modelLoads;
    private final Counter precisionFallbacks;

    public AttuneMetrics(MetricRegistry registry) {
        this.registry = registry;
        this.rows = registry.counter("rows");
        this.tokens = registry.counter("tokens");
        this.batches = registry.counter("batches");
        this.failedRows = registry.counter("failedRows");
        this.modelLoads = registry.counter("modelLoads");
        this.precisionFallbacks = registry.counter("precisionFallbacks");
        Runtime rt = Runtime.getRuntime();
        registry.register("memoryInUseBytes", (Gauge<Long>) () -> rt.totalMemory() - rt.freeMemory());
    }

    /** Metrics that go nowhere, for code running without the plugin. */
    public static AttuneMetrics detached() {
        return new AttuneMetrics(new MetricRegistry());
    }

    public void batch(String path, int rowCount, long tokenCount, long nanos) {
        rows.inc(rowCount);
        tokens.inc(tokenCount);
        batches.inc();
        timer(path).update(nanos, TimeUnit.NANOSECONDS);
    }

    public void failedRow() {
        failedRows.inc();
    }

    public void modelLoaded() {
        modelLoads.inc();
    }

    public void precisionFallback() {
        precisionFallbacks.inc();
    }

    public Timer timer(String path) {
        return registry.timer("time." + path);
    }

    public MetricRegistry registry() {
        return registry;
    }
}

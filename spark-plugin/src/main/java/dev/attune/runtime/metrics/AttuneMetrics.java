package dev.attune.runtime.metrics;

import com.codahale.metrics.Counter;
import com.codahale.metrics.Gauge;
import com.codahale.metrics.MetricRegistry;
import com.codahale.metrics.Timer;
import java.util.concurrent.TimeUnit;

/**
 * Attune's executor metrics, registered in the plugin's metric registry so they reach Spark's
 * metrics sinks (JMX, Prometheus servlet, CSV, ...) under {@code plugin.dev.attune.spark.AttunePlugin.*}:
 * rows, tokens, batches, failed rows, model loads, precision fallbacks, a timer per attention
 * path, and the heap in use for Attune's work. Decoder batches (log-likelihood, label choice)
 * also count {@code decoder.rows}, {@code decoder.prefillTokens}, {@code decoder.prefillNanos},
 * rows per path {@code decoder.rows.PATH}, and the gauge {@code decoder.prefillTokensPerSecond}
 * (prefill tokens over the time spent in decoder batches, summed over this JVM's tasks).
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
    private final Counter decoderRows;
    private final Counter prefillTokens;
    private final Counter prefillNanos;

    public AttuneMetrics(MetricRegistry registry) {
        this.registry = registry;
        this.rows = registry.counter("rows");
        this.tokens = registry.counter("tokens");
        this.batches = registry.counter("batches");
        this.failedRows = registry.counter("failedRows");
        this.modelLoads = registry.counter("modelLoads");
        this.precisionFallbacks = registry.counter("precisionFallbacks");
        this.decoderRows = registry.counter("decoder.rows");
        this.prefillTokens = registry.counter("decoder.prefillTokens");
        this.prefillNanos = registry.counter("decoder.prefillNanos");
        registry.remove("decoder.prefillTokensPerSecond");
        registry.register("decoder.prefillTokensPerSecond", (Gauge<Double>) this::prefillTokensPerSecond);
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

    /**
     * One decoder batch: {@code rowCount} rows of {@code tokenCount} prefill tokens on {@code path}
     * in {@code nanos}; counted in the shared rows/tokens/batches/time too.
     */
    public void decoderBatch(String path, int rowCount, long tokenCount, long nanos) {
        batch(path, rowCount, tokenCount, nanos);
        decoderRows.inc(rowCount);
        prefillTokens.inc(tokenCount);
        prefillNanos.inc(nanos);
        registry.counter("decoder.rows." + path).inc(rowCount);
    }

    /** Prefill tokens per second of decoder batch time so far (0 before the first batch). */
    public double prefillTokensPerSecond() {
        long n = prefillNanos.getCount();
        return n == 0 ? 0 : prefillTokens.getCount() / (n / 1e9);
    }

    /** Decoder rows computed on {@code path} so far. */
    public long decoderRows(String path) {
        return registry.counter("decoder.rows." + path).getCount();
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

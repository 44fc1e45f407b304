package dev.attune.runtime.metrics;

import com.codahale.metrics.Counter;
import com.codahale.metrics.Gauge;
import com.codahale.metrics.MetricRegistry;
import com.codahale.metrics.Timer;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Attune's executor metrics, registered in the plugin's metric registry so they reach Spark's
 * metrics sinks (JMX, Prometheus servlet, CSV, ...) under {@code plugin.dev.attune.spark.AttunePlugin.*}:
 * rows, tokens, batches, failed rows, model loads, precision fallbacks, a timer per attention
 * path, and the heap in use for Attune's work. Decoder batches (log-likelihood, label choice)
 * also count {@code decoder.rows}, {@code decoder.prefillTokens}, {@code decoder.prefillNanos},
 * rows per path {@code decoder.rows.PATH}, and the gauge {@code decoder.prefillTokensPerSecond}
 * (prefill tokens over the time spent in decoder batches, summed over this JVM's tasks).
 * Generation counts {@code generate.rows}, {@code generate.decodeTokens} (one-token steps),
 * {@code generate.prefillTokens} (prompt chunks, and recomputation after a preemption),
 * {@code generate.preemptions}, {@code generate.sharedPrefixTokens} (prompt tokens whose KV
 * blocks were shared instead of computed), the gauges {@code generate.activeSequences} and
 * {@code generate.kvBlocksInUse} (summed over the JVM's running generations), and
 * {@code generate.decodeTokensPerSecond} / {@code generate.prefillTokensPerSecond}: tokens over
 * the time of the passes that did only decode steps / that fed prompt chunks.
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

    private final Counter generateRows;
    private final Counter decodeTokens;
    private final Counter decodeNanos;
    private final Counter generatePrefillTokens;
    private final Counter generatePrefillNanos;
    private final Counter preemptions;
    private final Counter sharedPrefixTokens;
    private final java.util.concurrent.atomic.AtomicLong activeSequences = new java.util.concurrent.atomic.AtomicLong();
    private final java.util.concurrent.atomic.AtomicLong kvBlocksInUse = new java.util.concurrent.atomic.AtomicLong();

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
        this.generateRows = registry.counter("generate.rows");
        this.decodeTokens = registry.counter("generate.decodeTokens");
        this.decodeNanos = registry.counter("generate.decodeNanos");
        this.generatePrefillTokens = registry.counter("generate.prefillTokens");
        this.generatePrefillNanos = registry.counter("generate.prefillNanos");
        this.preemptions = registry.counter("generate.preemptions");
        this.sharedPrefixTokens = registry.counter("generate.sharedPrefixTokens");
        for (String g : List.of(
                "generate.activeSequences",
                "generate.kvBlocksInUse",
                "generate.decodeTokensPerSecond",
                "generate.prefillTokensPerSecond")) {
            registry.remove(g);
        }
        registry.register("generate.activeSequences", (Gauge<Long>) activeSequences::get);
        registry.register("generate.kvBlocksInUse", (Gauge<Long>) kvBlocksInUse::get);
        registry.register("generate.decodeTokensPerSecond", (Gauge<Double>) () -> rate(decodeTokens, decodeNanos));
        registry.register("generate.prefillTokensPerSecond", (Gauge<Double>)
                () -> rate(generatePrefillTokens, generatePrefillNanos));
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

    private static double rate(Counter tokens, Counter nanos) {
        long n = nanos.getCount();
        return n == 0 ? 0 : tokens.getCount() / (n / 1e9);
    }

    /**
     * A generation's pass: its decode and prefill tokens and time; {@code activeDelta} and
     * {@code blocksDelta} change the JVM-wide gauges by what this generation's own counts changed
     * (the caller gives them back with negative deltas when it ends).
     */
    public void generationPass(String path, int decode, int prefill, long nanos, long activeDelta, long blocksDelta) {
        if (prefill == 0) {
            decodeTokens.inc(decode);
            decodeNanos.inc(nanos);
        } else {
            generatePrefillTokens.inc(prefill);
            generatePrefillNanos.inc(nanos);
        }
        activeSequences.addAndGet(activeDelta);
        kvBlocksInUse.addAndGet(blocksDelta);
        timer(path).update(nanos, TimeUnit.NANOSECONDS);
    }

    /** Changes the generation gauges only (a generation ending gives back its counts). */
    public void generationGauges(long activeDelta, long blocksDelta) {
        activeSequences.addAndGet(activeDelta);
        kvBlocksInUse.addAndGet(blocksDelta);
    }

    public void generatedRows(int n) {
        generateRows.inc(n);
    }

    public void preempted() {
        preemptions.inc();
    }

    /** Prompt tokens a row did not compute: its first blocks were shared with rows that had. */
    public void sharedPrefix(int tokens) {
        sharedPrefixTokens.inc(tokens);
    }

    public long counter(String name) {
        return registry.counter(name).getCount();
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

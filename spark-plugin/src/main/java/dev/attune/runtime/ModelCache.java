package dev.attune.runtime;

import dev.attune.model.EncoderModel;
import dev.attune.model.io.ModelLocator;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The models of one JVM: each model string is resolved and loaded once, then shared by every
 * task thread (weights are immutable). A failed load is not cached, so a later task retries.
 *
 * <p>Threading: {@link #get} may be called from any number of task threads at once; the first
 * caller for a model loads it while the others wait for that load.
 */
public final class ModelCache implements AutoCloseable {

    private final Map<String, EncoderModel> models = new ConcurrentHashMap<>();
    private final Map<String, AtomicInteger> loads = new ConcurrentHashMap<>();
    private final AtomicLong lastLoadMillis = new AtomicLong();
    private final Map<String, String> hadoopConf;

    public ModelCache() {
        this(Map.of());
    }

    /** A cache whose remote models are read with these Hadoop options. */
    public ModelCache(Map<String, String> hadoopConf) {
        this.hadoopConf = Map.copyOf(hadoopConf);
    }

    public EncoderModel get(String model) {
        return models.computeIfAbsent(model, m -> {
            long t0 = System.nanoTime();
            EncoderModel loaded = EncoderModel.load(ModelLocator.resolve(m, hadoopConf));
            lastLoadMillis.set((System.nanoTime() - t0) / 1_000_000);
            loads.computeIfAbsent(m, k -> new AtomicInteger()).incrementAndGet();
            return loaded;
        });
    }

    /** How many times {@code model} was loaded in this JVM (1 once it is cached). */
    public int loads(String model) {
        AtomicInteger n = loads.get(model);
        return n == null ? 0 : n.get();
    }

    public int totalLoads() {
        return loads.values().stream().mapToInt(AtomicInteger::get).sum();
    }

    public long lastLoadMillis() {
        return lastLoadMillis.get();
    }

    public boolean isLoaded(String model) {
        return models.containsKey(model);
    }

    @Override
    public void close() {
        models.values().forEach(EncoderModel::close);
        models.clear();
    }
}

package dev.attune.runtime;

import dev.attune.model.DecoderModel;
import dev.attune.model.EncoderModel;
import dev.attune.model.ModelFamily;
import dev.attune.model.ModelFormatException;
import dev.attune.model.io.ModelLocator;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The models of one JVM: each model string is resolved and loaded once, then shared by every
 * task thread (weights are immutable). A failed load is not cached, so a later task retries.
 * Encoders ({@link #get}) and decoders ({@link #getDecoder}) are cached side by side; the family
 * of a directory is read from its config.json ({@link ModelFamily#of}), and asking for the other
 * family is a {@link ModelFormatException} that says what the directory holds and what was asked.
 *
 * <p>Threading: {@link #get} may be called from any number of task threads at once; the first
 * caller for a model loads it while the others wait for that load.
 */
public final class ModelCache implements AutoCloseable {

    private final Map<String, EncoderModel> models = new ConcurrentHashMap<>();
    private final Map<String, DecoderModel> decoders = new ConcurrentHashMap<>();
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

    /** The encoder {@code model}, loaded on first use. */
    public EncoderModel get(String model) {
        return models.computeIfAbsent(model, m -> {
            long t0 = System.nanoTime();
            Path dir = ModelLocator.resolve(m, hadoopConf);
            if (!m.startsWith("builtin:")
                    && java.nio.file.Files.isRegularFile(dir.resolve("config.json"))
                    && ModelFamily.of(dir) == ModelFamily.DECODER) {
                throw new ModelFormatException(m + " is a decoder (" + dir + "); embedding and classification need an "
                        + "encoder: score it with SequenceScorer, attune_loglik or attune_choose");
            }
            EncoderModel loaded = EncoderModel.load(dir);
            lastLoadMillis.set((System.nanoTime() - t0) / 1_000_000);
            loads.computeIfAbsent(m, k -> new AtomicInteger()).incrementAndGet();
            return loaded;
        });
    }

    /**
     * The decoder {@code model}, loaded on first use; a directory that holds an encoder is a
     * {@link ModelFormatException} naming it.
     */
    public DecoderModel getDecoder(String model) {
        return decoders.computeIfAbsent(model, m -> {
            long t0 = System.nanoTime();
            Path dir = ModelLocator.resolve(m, hadoopConf);
            ModelFamily family = ModelFamily.of(dir);
            if (family != ModelFamily.DECODER) {
                throw new ModelFormatException(m + " is an encoder (" + dir + ", family " + family.graph() + "); "
                        + "log-likelihood and label choice need a decoder (model_type one of "
                        + new java.util.TreeSet<>(ModelFamily.DECODER.modelTypes()) + ")");
            }
            DecoderModel loaded = DecoderModel.load(dir);
            lastLoadMillis.set((System.nanoTime() - t0) / 1_000_000);
            loads.computeIfAbsent(m, k -> new AtomicInteger()).incrementAndGet();
            return loaded;
        });
    }

    /** The family of {@code model} (resolved, not loaded): built-in models are encoders. */
    public ModelFamily family(String model) {
        if (model.startsWith("builtin:")) {
            return ModelFamily.ENCODER;
        }
        return ModelFamily.of(ModelLocator.resolve(model, hadoopConf));
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

    /** Whether the encoder {@code model} is cached. */
    public boolean isLoaded(String model) {
        return models.containsKey(model);
    }

    /** Whether the decoder {@code model} is cached. */
    public boolean isDecoderLoaded(String model) {
        return decoders.containsKey(model);
    }

    @Override
    public void close() {
        models.values().forEach(EncoderModel::close);
        models.clear();
        decoders.values().forEach(DecoderModel::close);
        decoders.clear();
    }
}

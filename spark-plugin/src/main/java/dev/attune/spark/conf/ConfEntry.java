package dev.attune.spark.conf;

import java.util.Map;
import java.util.function.Function;

/**
 * One typed {@code spark.attune.*} setting: its key, type, default, documentation and check.
 * Values are read from Spark's string configuration; a value that does not parse or pass the
 * check raises {@link AttuneConfigException} naming the key, the value and what is allowed.
 *
 * @param key      full key, {@code spark.attune....}
 * @param type     the type as the docs show it
 * @param dflt     the default, as a string
 * @param doc      one or two sentences for docs/configs.md
 * @param parser   string to value; throws IllegalArgumentException with the reason when invalid
 */
public record ConfEntry<T>(String key, String type, String dflt, String doc, Function<String, T> parser) {

    /** The value in {@code conf}, or the default. */
    public T get(Map<String, String> conf) {
        String raw = conf.getOrDefault(key, dflt);
        return parse(raw);
    }

    public T parse(String raw) {
        try {
            return parser.apply(raw == null ? dflt : raw.trim());
        } catch (IllegalArgumentException e) {
            throw new AttuneConfigException(key + " = '" + raw + "' is not valid: " + e.getMessage());
        }
    }

    public T defaultValue() {
        return parse(dflt);
    }
}

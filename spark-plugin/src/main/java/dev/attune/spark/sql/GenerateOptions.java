package dev.attune.spark.sql;

import dev.attune.task.generate.SamplingParams;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * The options map of {@code attune_generate(prompt, map(...))}: {@code model},
 * {@code max_new_tokens} (64), {@code temperature} (0: greedy), {@code top_k}, {@code top_p},
 * {@code min_p}, {@code repetition_penalty}, {@code presence_penalty}, {@code seed} and
 * {@code stop} (one stop string; {@code stop2}, {@code stop3}, ... for more) and
 * {@code truncate_left}. Values are strings,
 * as a SQL {@code map(...)} literal gives them. Parsed once, where the call is built; an unknown
 * key or a bad value is an error naming it.
 *
 * @param model  the model, or null for spark.attune.model
 * @param params the sampling parameters
 * @param truncateLeft {@code truncate_left} ('true' or 'false', the default): a prompt too long for
 *     the context with {@code max_new_tokens} keeps its last tokens instead of being a row error
 */
record GenerateOptions(String model, SamplingParams params, boolean truncateLeft) implements Serializable {

    static final List<String> KEYS = List.of(
            "model",
            "max_new_tokens",
            "temperature",
            "top_k",
            "top_p",
            "min_p",
            "repetition_penalty",
            "presence_penalty",
            "seed",
            "stop",
            "truncate_left");

    static final GenerateOptions DEFAULT = parse(Map.of());

    static GenerateOptions parse(Map<String, String> options) {
        Map<String, String> o = new LinkedHashMap<>();
        List<String> stops = new ArrayList<>();
        for (Map.Entry<String, String> e : new TreeMap<>(options).entrySet()) {
            String k = e.getKey();
            if (k.matches("stop\\d*")) {
                if (e.getValue() != null) {
                    stops.add(e.getValue());
                }
            } else if (!KEYS.contains(k)) {
                throw new IllegalArgumentException(AttuneFunctions.GENERATE + ": unknown option '" + k
                        + "'; options are " + String.join(", ", KEYS));
            } else if (e.getValue() != null) {
                o.put(k, e.getValue());
            }
        }
        try {
            return new GenerateOptions(
                    o.get("model"),
                    new SamplingParams(
                            number(o, "temperature", 0),
                            (int) integer(o, "top_k", 0),
                            number(o, "top_p", 1),
                            number(o, "min_p", 0),
                            number(o, "repetition_penalty", 1),
                            number(o, "presence_penalty", 0),
                            (int) integer(o, "max_new_tokens", 64),
                            stops,
                            integer(o, "seed", 0)),
                    bool(o, "truncate_left"));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(
                    e.getMessage().startsWith(AttuneFunctions.GENERATE)
                            ? e.getMessage()
                            : AttuneFunctions.GENERATE + ": " + e.getMessage(),
                    e);
        }
    }

    private static boolean bool(Map<String, String> o, String k) {
        String v = o.get(k);
        if (v == null || v.trim().equalsIgnoreCase("false")) {
            return false;
        }
        if (v.trim().equalsIgnoreCase("true")) {
            return true;
        }
        throw new IllegalArgumentException(
                AttuneFunctions.GENERATE + ": option " + k + " = '" + v + "' is not true or false");
    }

    private static double number(Map<String, String> o, String k, double d) {
        String v = o.get(k);
        try {
            return v == null ? d : Double.parseDouble(v.trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(
                    AttuneFunctions.GENERATE + ": option " + k + " = '" + v + "' is not a number");
        }
    }

    private static long integer(Map<String, String> o, String k, long d) {
        String v = o.get(k);
        try {
            return v == null ? d : Long.parseLong(v.trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(
                    AttuneFunctions.GENERATE + ": option " + k + " = '" + v + "' is not an integer");
        }
    }
}

package dev.attune.runtime;

import java.util.Locale;

/** What a row that cannot be scored does: fail the task, naming the row, or get null and the error. */
public enum OnError {
    FAIL,
    NULL;

    /** "fail" or "null", any case; anything else is an IllegalArgumentException saying what is allowed. */
    public static OnError parse(String s) {
        return switch (s.toLowerCase(Locale.ROOT)) {
            case "fail" -> FAIL;
            case "null" -> NULL;
            default -> throw new IllegalArgumentException("use fail or null");
        };
    }
}

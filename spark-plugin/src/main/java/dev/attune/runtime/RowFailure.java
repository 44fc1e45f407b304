package dev.attune.runtime;

/** A row that cannot be scored; the message names the row (its id or position) and why. */
public class RowFailure extends RuntimeException {

    public RowFailure(String message, Throwable cause) {
        super(message, cause);
    }

    public RowFailure(String message) {
        super(message);
    }
}

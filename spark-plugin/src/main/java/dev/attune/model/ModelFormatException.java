package dev.attune.model;

/**
 * A model file that cannot be used: malformed, hostile, truncated or inconsistent. The message
 * names the file and, where there is one, the tensor or key at fault.
 */
public class ModelFormatException extends RuntimeException {

    public ModelFormatException(String message) {
        super(message);
    }

    public ModelFormatException(String message, Throwable cause) {
        super(message, cause);
    }
}

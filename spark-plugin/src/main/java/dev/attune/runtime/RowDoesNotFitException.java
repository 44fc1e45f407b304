package dev.attune.runtime;

/**
 * A single row needs more device memory than the device has, even alone after its memory pool
 * was trimmed: the message names the row's length and the device. It is that row's error; the
 * scorer's row-level policy decides whether it fails the task.
 */
public class RowDoesNotFitException extends RuntimeException {

    public RowDoesNotFitException(String message, Throwable cause) {
        super(message, cause);
    }
}

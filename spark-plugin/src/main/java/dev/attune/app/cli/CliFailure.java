package dev.attune.app.cli;

/**
 * A failure of a command's work whose message is complete in one line (what, where, why): printed
 * as {@code attune: <message>} with exit code 1, without a stack trace.
 */
final class CliFailure extends RuntimeException {

    CliFailure(String message) {
        super(message);
    }
}

package dev.attune.app.job;

/**
 * The scoring job refuses to run, for a reason that re-running the same command does not change
 * (a model of the wrong family, an output written with other settings, unreadable input records
 * under {@code onError=fail}, an output in use by another run): reported as one line, with no
 * advice to re-run. Nothing has been written when it is thrown.
 */
final class JobRefusal extends RuntimeException {

    JobRefusal(String message) {
        super(message);
    }
}

package dev.attune.task;

/**
 * A row has more tokens than the model's context holds (and left truncation is off): that row's
 * error, naming its index in the input, its length and the limit. The caller's row-level policy
 * decides whether it fails the job.
 */
public final class RowTooLongException extends IllegalArgumentException {

    private final int row;

    public RowTooLongException(int row, String message) {
        super(message);
        this.row = row;
    }

    /** The row's index in the list given to the task. */
    public int row() {
        return row;
    }
}

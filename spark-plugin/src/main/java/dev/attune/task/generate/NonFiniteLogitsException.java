package dev.attune.task.generate;

/**
 * A row's next-token logits hold NaN or an infinity (finite weights whose pass overflowed, or a
 * broken model): no token can be chosen honestly, so the row fails, named by its index in the
 * list given to the generator, instead of a token being picked from garbage.
 */
public final class NonFiniteLogitsException extends IllegalStateException {

    private final int row;

    public NonFiniteLogitsException(int row, String message) {
        super(message);
        this.row = row;
    }

    /** The row's index in the list given to the generator. */
    public int row() {
        return row;
    }
}

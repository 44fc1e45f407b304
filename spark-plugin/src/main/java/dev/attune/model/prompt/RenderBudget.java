package dev.attune.model.prompt;

/**
 * The work one render may do: node renders, wall-clock time and the length of any string or list
 * an expression produces. One per render call, shared by the interpreters of that render (macros
 * get child interpreters); touched by one thread only.
 */
final class RenderBudget {

    /** Thrown, once the budget is spent, from inside jinjava; {@link #failure()} keeps why. */
    static final class Exceeded extends RuntimeException {
        Exceeded(String message) {
            super(message, null, false, false);
        }
    }

    private final long maxNodes;
    private final long deadlineNanos;
    private final long maxValueLength;
    private final String timeText;
    private long nodes;
    private String failure;

    RenderBudget(ChatTemplate.Limits limits) {
        this.maxNodes = limits.maxNodes();
        this.deadlineNanos = System.nanoTime() + limits.maxTime().toNanos();
        this.maxValueLength = limits.maxOutputChars();
        this.timeText = limits.maxTime().toMillis() + " ms";
    }

    /** Called before every node renders. */
    void tick() {
        if (failure != null) {
            throw new Exceeded(failure);
        }
        if (++nodes > maxNodes) {
            fail("the template did more than " + maxNodes + " render steps (a loop too large?)");
        }
        if ((nodes & 63) == 0 && System.nanoTime() > deadlineNanos) {
            fail("the template ran longer than " + timeText);
        }
        if (Thread.currentThread().isInterrupted()) {
            fail("rendering was interrupted");
        }
    }

    /** Called on every expression's value. */
    void check(Object value) {
        if (failure != null) {
            throw new Exceeded(failure);
        }
        long len = value instanceof CharSequence
                ? ((CharSequence) value).length()
                : value instanceof java.util.Collection
                        ? ((java.util.Collection<?>) value).size()
                        : value instanceof java.util.Map ? ((java.util.Map<?, ?>) value).size() : 0;
        if (len > maxValueLength) {
            fail("an expression produced a value of " + len + " characters or items, more than the limit of "
                    + maxValueLength);
        }
    }

    private void fail(String why) {
        failure = why;
        throw new Exceeded(why);
    }

    String failure() {
        return failure;
    }
}

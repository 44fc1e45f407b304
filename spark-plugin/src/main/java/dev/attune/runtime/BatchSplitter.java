package dev.attune.runtime;

import dev.attune.kernels.cuda.GpuOutOfMemoryException;
import dev.attune.model.bert.TokenBatch;
import java.util.Arrays;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs a batch on a device that may run out of memory: on {@link GpuOutOfMemoryException} the
 * device's memory pool is trimmed and the batch is split by rows into two halves, each retried
 * (and split again as needed) in order; the halves' results are put back together in the
 * batch's original row order. A single row that does not fit is retried once after the trim;
 * if it still does not fit it is a {@link RowDoesNotFitException} naming its length and the
 * device. Each split is counted and logged.
 *
 * <p>Pure control flow over the attempt function: testable without a GPU.
 * Threading: one instance is shared by a device's task threads; the attempt and trim functions
 * must be thread-safe.
 */
public final class BatchSplitter {

    private static final Logger LOG = LoggerFactory.getLogger(BatchSplitter.class);

    private final String device;
    private final Runnable trimPool;
    private final LongAdder splits = new LongAdder();

    /**
     * @param device   the device's label, for messages
     * @param trimPool frees the device memory cached for reuse, before a retry
     */
    public BatchSplitter(String device, Runnable trimPool) {
        this.device = device;
        this.trimPool = trimPool;
    }

    /** Runs {@code attempt} on {@code batch}, splitting on out-of-memory as described above. */
    public BatchOutcome run(TokenBatch batch, Function<TokenBatch, BatchOutcome> attempt) {
        try {
            return attempt.apply(batch);
        } catch (GpuOutOfMemoryException oom) {
            trimPool.run();
            int rows = batch.rows();
            if (rows <= 1) {
                return lastTry(batch, attempt, oom);
            }
            int first = rows / 2;
            splits.increment();
            LOG.info(
                    "{}: out of memory on a batch of {} rows ({} tokens): memory pool trimmed, batch split into {} + {} rows"
                            + " ({})",
                    device,
                    rows,
                    batch.tokens(),
                    first,
                    rows - first,
                    oom.getMessage());
            BatchOutcome a = run(rows(batch, 0, first), attempt);
            BatchOutcome b = run(rows(batch, first, rows), attempt);
            return BatchOutcome.concat(a, first, b, rows - first);
        }
    }

    private BatchOutcome lastTry(
            TokenBatch row, Function<TokenBatch, BatchOutcome> attempt, GpuOutOfMemoryException first) {
        try {
            return attempt.apply(row);
        } catch (GpuOutOfMemoryException again) {
            trimPool.run();
            again.addSuppressed(first);
            throw new RowDoesNotFitException(
                    "a row of " + row.tokens() + " tokens does not fit in the memory of " + device
                            + " even alone (" + again.getMessage()
                            + "); truncate rows to fewer tokens (maxLength) or free memory"
                            + " on the device",
                    again);
        }
    }

    /** Batches split so far. */
    public long splits() {
        return splits.sum();
    }

    /** Rows {@code [from, to)} of {@code batch} as a batch of their own, lengths and order kept. */
    public static TokenBatch rows(TokenBatch batch, int from, int to) {
        if (from < 0 || to > batch.rows() || from > to) {
            throw new IndexOutOfBoundsException("rows " + from + ".." + to + " of a batch of " + batch.rows());
        }
        int[] cu = batch.cuSeqlens();
        int start = cu[from];
        int end = cu[to];
        int[] sub = new int[to - from + 1];
        for (int r = from; r <= to; r++) {
            sub[r - from] = cu[r] - start;
        }
        return new TokenBatch(
                Arrays.copyOfRange(batch.ids(), start, end), Arrays.copyOfRange(batch.typeIds(), start, end), sub);
    }
}

package dev.attune.runtime;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.attune.kernels.cuda.GpuOutOfMemoryException;
import dev.attune.kernels.select.AttentionChoice;
import dev.attune.kernels.select.AttentionPath;
import dev.attune.kernels.select.ComputeDtype;
import dev.attune.model.bert.TokenBatch;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

class BatchSplitterTest {

    private static final AttentionChoice FP16 =
            new AttentionChoice(AttentionPath.FLASH_SM80, ComputeDtype.FP16, 8, "test");
    private static final AttentionChoice FP32 =
            new AttentionChoice(AttentionPath.MEM_EFFICIENT, ComputeDtype.FP32, 8, "test");

    /** Rows of lengths 3, 1, 4, 2, 5; token t of row r has id 100·r + t. */
    private static TokenBatch batch() {
        int[] lengths = {3, 1, 4, 2, 5};
        int[] cu = new int[lengths.length + 1];
        for (int r = 0; r < lengths.length; r++) {
            cu[r + 1] = cu[r] + lengths[r];
        }
        int[] ids = new int[cu[lengths.length]];
        int[] types = new int[ids.length];
        for (int r = 0; r < lengths.length; r++) {
            for (int t = 0; t < lengths[r]; t++) {
                ids[cu[r] + t] = 100 * r + t;
                types[cu[r] + t] = r % 2;
            }
        }
        return new TokenBatch(ids, types, cu);
    }

    /** "Hidden state" of one value per token: its id, so the order of the result can be read back. */
    private static BatchOutcome echo(TokenBatch b, AttentionChoice c) {
        float[] h = new float[b.tokens()];
        for (int i = 0; i < h.length; i++) {
            h[i] = b.ids()[i];
        }
        return new BatchOutcome(h, c, c == FP32);
    }

    private static GpuOutOfMemoryException oom() {
        return new GpuOutOfMemoryException("out of memory", 2, "CUDA_ERROR_OUT_OF_MEMORY", "cuda:0 T", 1 << 20, null);
    }

    @Test
    void rowsSliceKeepsLengthsTypesAndOrder() {
        TokenBatch sub = BatchSplitter.rows(batch(), 1, 4);
        assertArrayEquals(new int[] {0, 1, 5, 7}, sub.cuSeqlens());
        assertArrayEquals(new int[] {100, 200, 201, 202, 203, 300, 301}, sub.ids());
        assertArrayEquals(new int[] {1, 0, 0, 0, 0, 1, 1}, sub.typeIds());
        assertEquals(0, BatchSplitter.rows(batch(), 2, 2).rows());
        assertThrows(IndexOutOfBoundsException.class, () -> BatchSplitter.rows(batch(), 3, 6));
    }

    @Test
    void noFailureNoSplit() {
        AtomicInteger trims = new AtomicInteger();
        BatchSplitter s = new BatchSplitter("cuda:0 T", trims::incrementAndGet);
        BatchOutcome o = s.run(batch(), b -> echo(b, FP16));
        assertEquals(15, o.hidden().length);
        assertEquals(0, s.splits());
        assertEquals(0, trims.get());
        assertNull(o.rowChoices());
    }

    @Test
    void splitsRecursivelyUntilThePartsFitAndReassemblesInOrder() {
        AtomicInteger trims = new AtomicInteger();
        List<Integer> attempts = new ArrayList<>();
        BatchSplitter s = new BatchSplitter("cuda:0 T", trims::incrementAndGet);
        TokenBatch whole = batch();
        // Fits while the part has at most 7 tokens: 5 rows (15) -> 2 (4) | 3 (11) -> 1 (4) | 2 (7).
        BatchOutcome o = s.run(whole, b -> {
            attempts.add(b.rows());
            if (b.tokens() > 7) {
                throw oom();
            }
            return echo(b, FP16);
        });
        float[] expected = new float[whole.tokens()];
        for (int i = 0; i < expected.length; i++) {
            expected[i] = whole.ids()[i];
        }
        assertArrayEquals(expected, o.hidden());
        assertEquals(List.of(5, 2, 3, 1, 2), attempts);
        assertEquals(2, s.splits());
        assertEquals(2, trims.get());
        assertSame(FP16, o.choice());
        assertNull(o.rowChoices(), "every part ran on one choice");
    }

    @Test
    void partsThatRanDifferentlyAreReportedPerRow() {
        BatchSplitter s = new BatchSplitter("cuda:0 T", () -> {});
        BatchOutcome o = s.run(batch(), b -> {
            if (b.rows() > 1) {
                throw oom();
            }
            return echo(b, b.ids()[0] == 200 ? FP32 : FP16);
        });
        assertTrue(o.precisionFallback());
        assertSame(FP16, o.choice());
        for (int r = 0; r < 5; r++) {
            assertSame(r == 2 ? FP32 : FP16, o.choiceOf(r), "row " + r);
        }
        assertEquals(4, s.splits(), "a batch of 5 is split 4 times into single rows");
    }

    @Test
    void aSingleRowIsRetriedOnceAfterTrimmingThenNamed() {
        AtomicInteger trims = new AtomicInteger();
        AtomicInteger attempts = new AtomicInteger();
        BatchSplitter s = new BatchSplitter("cuda:0 Tesla T4", trims::incrementAndGet);
        TokenBatch row = BatchSplitter.rows(batch(), 4, 5);
        RowDoesNotFitException e = assertThrows(
                RowDoesNotFitException.class,
                () -> s.run(row, b -> {
                    attempts.incrementAndGet();
                    throw oom();
                }));
        assertTrue(e.getMessage().contains("5 tokens") && e.getMessage().contains("cuda:0 Tesla T4"), e.getMessage());
        assertEquals(2, attempts.get());
        assertEquals(2, trims.get());
        assertEquals(1, e.getCause().getSuppressed().length, "the first failure travels with the second");

        AtomicInteger second = new AtomicInteger();
        BatchOutcome ok = s.run(row, b -> {
            if (second.getAndIncrement() == 0) {
                throw oom();
            }
            return echo(b, FP16);
        });
        assertEquals(5, ok.hidden().length, "memory freed by the trim is enough for the retry");
    }

    @Test
    void otherFailuresPassThrough() {
        BatchSplitter s = new BatchSplitter("cuda:0 T", () -> {});
        IllegalStateException boom = new IllegalStateException("boom");
        assertSame(
                boom,
                assertThrows(
                        IllegalStateException.class,
                        () -> s.run(batch(), b -> {
                            throw boom;
                        })));
        assertEquals(0, s.splits());
    }
}

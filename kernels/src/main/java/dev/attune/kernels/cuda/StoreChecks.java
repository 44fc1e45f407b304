package dev.attune.kernels.cuda;

import dev.attune.kernels.precision.PrecisionOverflowException;
import java.util.ArrayList;
import java.util.List;

/**
 * The host side of the fp16 range check of one forward pass on the GPU: each
 * {@link CudaTensorOps#store} takes the next slot of a small device array of int32 counters, and
 * a {@code count_nonfinite} launch adds the stored tensor's NaN and infinite values to that slot
 * without waiting. When the pass downloads, the counters come back and {@link #check} throws for
 * the first store, in the pass's order, whose count is not zero: the store where the values left
 * fp16's range (later stores only inherit them).
 *
 * <p>Slots are grouped in blocks of {@link #BLOCK} counters, one device array each, so a pass
 * with more stores takes another block instead of reallocating.
 *
 * <p>Threading: as its pass, one thread.
 */
final class StoreChecks {

    /** Counters per device array. */
    static final int BLOCK = 256;

    private final List<String> names = new ArrayList<>();
    private int checked;

    /** Takes the next slot for a store named {@code what}; its index. */
    int add(String what) {
        names.add(what);
        return names.size() - 1;
    }

    /** Slots taken so far. */
    int size() {
        return names.size();
    }

    /** The device block of a slot. */
    static int block(int slot) {
        return slot / BLOCK;
    }

    /** A slot's element within its block. */
    static int offset(int slot) {
        return slot % BLOCK;
    }

    /** Blocks the slots taken so far occupy. */
    int blocks() {
        return (names.size() + BLOCK - 1) / BLOCK;
    }

    /** The first slot not yet proven clean by a {@link #check}. */
    int checkedUpTo() {
        return checked;
    }

    /**
     * Checks the counters of slots {@code [from, from + counts.length)}, read back from the
     * device in slot order, and remembers that they are clean.
     *
     * @throws PrecisionOverflowException for the first slot with a non-zero count, naming its store
     */
    void check(int from, int[] counts) {
        if (from < 0 || from + counts.length > names.size()) {
            throw new IllegalArgumentException(
                    "counters for slots [" + from + ", " + (from + counts.length) + ") of " + names.size());
        }
        for (int i = 0; i < counts.length; i++) {
            if (counts[i] != 0) {
                throw new PrecisionOverflowException(names.get(from + i) + " holds " + Integer.toUnsignedLong(counts[i])
                        + " non-finite values, beyond fp16's range (65504)");
            }
        }
        checked = Math.max(checked, from + counts.length);
    }
}

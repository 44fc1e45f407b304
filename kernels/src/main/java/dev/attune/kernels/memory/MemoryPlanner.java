package dev.attune.kernels.memory;

import dev.attune.kernels.select.AttentionPath;
import dev.attune.kernels.select.ComputeDtype;

/**
 * How many rows of a given length fit on a device, from the bytes one row needs for the chosen
 * path (weights excluded) and the memory the device has free.
 *
 * <p>Activations of one layer (they are reused layer to layer): the residual stream, the fused
 * QKV projection, the attention output, the projection and the feed-forward activation, i.e.
 * {@code N · (6·hidden + intermediate)} values in the compute dtype. Attention adds, per row:
 * nothing for the flash paths (tiles live in shared memory or, on the CPU, in a per-worker buffer);
 * {@code 2 · heads · N} fp32 softmax statistics for mem-efficient; {@code heads · chunk · N} fp32
 * scores for the math paths.
 *
 * <p>Concurrency: a device's memory is shared by the tasks that run on it at once (on a GPU,
 * {@code spark.attune.gpu.concurrentTasks} of them), each with its own batch. Weights are resident
 * once per device and shared, so they come off the device's budget once; what is left is divided
 * between the tasks ({@link #taskBudget}). Per-task scratch (a batch's activations, its logits)
 * then comes off that task's share.
 */
public final class MemoryPlanner {

    private MemoryPlanner() {}

    /** Bytes one row of {@code seqLen} tokens needs while it runs through the encoder. */
    public static long bytesPerRow(EncoderShape s, int seqLen, AttentionPath path, ComputeDtype dtype, int queryChunk) {
        long n = seqLen;
        long activations = n * (6L * s.hidden() + s.intermediate()) * dtype.bytes();
        long attention = switch (path) {
            case FLASH_SM80, FLASH_SM75, CPU_FLASH -> 0;
            case MEM_EFFICIENT -> 2L * s.heads() * n * Float.BYTES;
            case MATH, CPU_MATH -> (long) s.heads() * Math.min(queryChunk, seqLen) * n * Float.BYTES;
        };
        return activations + attention;
    }

    /**
     * Bytes one token of a decoder's prefill needs while it runs (weights excluded): the
     * activations of one layer, reused layer to layer — residual stream, normalised input, fused
     * q | k | v, attention output, the block's output, gate | up and the gated activation, i.e.
     * {@code 3·hidden + (heads + 2·kv_heads)·head_dim + heads·head_dim + 3·intermediate} values in
     * the compute dtype.
     */
    public static long decoderBytesPerToken(DecoderShape s, ComputeDtype dtype) {
        long values = 3L * s.hidden()
                + (long) (s.heads() + 2 * s.kvHeads()) * s.headDim()
                + (long) s.heads() * s.headDim()
                + 3L * s.intermediate();
        return values * dtype.bytes();
    }

    /**
     * Bytes a causal prefill of one row of {@code keys} keys ({@code queries} of them its own)
     * needs beyond its tokens' activations, for the path: nothing for the flash paths, softmax
     * statistics for mem-efficient, the score matrix for the math paths (the CPU oracle's in
     * double).
     */
    public static long decoderAttentionBytes(
            DecoderShape s, int queries, int keys, AttentionPath path, int queryChunk) {
        return switch (path) {
            case FLASH_SM80, FLASH_SM75, CPU_FLASH -> 0;
            case MEM_EFFICIENT -> 2L * s.heads() * queries * Float.BYTES;
            case MATH -> (long) s.heads() * Math.min(queryChunk, queries) * keys * Float.BYTES;
            case CPU_MATH -> (long) queries * keys * Double.BYTES;
        };
    }

    /** Bytes of a decoder's weights in the compute dtype. */
    public static long weightBytes(DecoderShape s, ComputeDtype dtype) {
        return s.parameters() * dtype.bytes();
    }

    /** Bytes of the weights in the compute dtype. */
    public static long weightBytes(EncoderShape s, ComputeDtype dtype) {
        return s.parameters() * dtype.bytes();
    }

    /**
     * The bytes one of {@code concurrentTasks} tasks sharing a device may plan its own work with:
     * {@code (free · fraction - sharedBytes) / concurrentTasks}, where {@code sharedBytes} are the
     * weights (resident once per device, whatever the number of tasks). Negative when the shared
     * bytes alone exceed the device's budget.
     *
     * @throws IllegalArgumentException when {@code fraction} is outside (0, 1] or
     *     {@code concurrentTasks} is below 1
     */
    public static double taskBudget(long freeBytes, double fraction, long sharedBytes, int concurrentTasks) {
        if (fraction <= 0 || fraction > 1) {
            throw new IllegalArgumentException("memory fraction must be in (0, 1], got " + fraction);
        }
        if (concurrentTasks < 1) {
            throw new IllegalArgumentException("concurrent tasks must be at least 1, got " + concurrentTasks);
        }
        return (freeBytes * fraction - sharedBytes) / concurrentTasks;
    }

    /**
     * Rows per batch of one of {@code concurrentTasks} tasks sharing the device:
     * {@link #taskBudget}{@code (free, fraction, weights not yet resident, concurrentTasks) /
     * bytesPerRow}, at least 1 (a single row that does not fit is the out-of-memory handler's
     * business) and at most {@code maxRows}.
     */
    public static int batchRows(
            long freeBytes,
            double fraction,
            long residentWeights,
            int concurrentTasks,
            EncoderShape s,
            int seqLen,
            AttentionPath path,
            ComputeDtype dtype,
            int queryChunk,
            int maxRows) {
        double budget = taskBudget(freeBytes, fraction, residentWeights, concurrentTasks);
        long perRow = bytesPerRow(s, seqLen, path, dtype, queryChunk);
        long rows = budget <= 0 ? 1 : (long) Math.floor(budget / perRow);
        return (int) Math.max(1, Math.min(maxRows, rows));
    }
}

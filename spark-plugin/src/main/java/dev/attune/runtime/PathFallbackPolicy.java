package dev.attune.runtime;

import dev.attune.kernels.select.AttentionPath;
import dev.attune.kernels.select.UnsupportedPathException;
import dev.attune.kernels.select.UserOverrides;
import java.util.EnumSet;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.LongAdder;

/**
 * What one GPU does after an attention path fails, decided without touching the GPU.
 *
 * <ul>
 *   <li>A kernel that failed or could not load: its path is excluded on this device from then on
 *   (a kernel that failed once would fail the next batch too, at the same cost), and the batch
 *   re-runs on the next path the selector gives with that exclusion added to the user's own. When
 *   no GPU path is left, the selector itself gives a CPU path.</li>
 *   <li>A path the user forced is never replaced: its failure is an {@link UnsupportedPathException}
 *   naming device, path and reason.</li>
 *   <li>A lost CUDA context (a kernel fault poisons every later call in the context): the device
 *   is marked lost for good and all of its work, this batch and later ones, goes to the CPU.</li>
 * </ul>
 * Every departure is counted ({@link #fallbacks()}); the caller logs it with the returned reason.
 *
 * <p>Threading: safe for concurrent use by the task threads sharing a device; exclusions made
 * by one thread are seen by the next selection on any thread.
 */
public final class PathFallbackPolicy {

    /** What the runner does next after a failure. */
    public enum Action {
        /** Choose again: the failed path is now excluded. */
        NEXT_PATH,
        /** The device is lost: run on the CPU from now on. */
        DEVICE_LOST
    }

    private final String device;
    private final UserOverrides user;
    private final Map<AttentionPath, String> failed = new ConcurrentHashMap<>();
    private volatile String lostReason;
    private final LongAdder fallbacks = new LongAdder();

    /**
     * @param device label of the GPU, for messages
     * @param user   the user's overrides (forced path, exclusions, dtype)
     */
    public PathFallbackPolicy(String device, UserOverrides user) {
        this.device = device;
        this.user = user;
    }

    /** The overrides to select with now: the user's, plus every path that failed on this device. */
    public UserOverrides overrides() {
        if (failed.isEmpty()) {
            return user;
        }
        Set<AttentionPath> excluded = EnumSet.noneOf(AttentionPath.class);
        excluded.addAll(user.excluded());
        excluded.addAll(failed.keySet());
        return new UserOverrides(user.forced(), excluded, user.dtype());
    }

    /**
     * The overrides for re-running a batch in fp32 after fp16 overflowed: {@link #overrides()}
     * with dtype fp32. A forced tensor-core flash path (fp16/bf16 only) gives way to the path
     * the selector picks for fp32, as on simulated devices: the user asked for a path, not for
     * infinities.
     */
    public UserOverrides fp32Overrides() {
        return overrides().forFp32Rerun();
    }

    /** Whether an fp16 overflow may be re-run in fp32: not when the user set the dtype. */
    public boolean mayRerunInFp32() {
        return user.dtype().isEmpty();
    }

    /**
     * Records that {@code path} failed on this device and says what to do next.
     *
     * @param contextLost the failure destroyed the CUDA context
     * @param reason      the failure's message, for the log and errors
     * @throws UnsupportedPathException when the user forced {@code path} and the context survived
     */
    public Action onFailure(AttentionPath path, boolean contextLost, String reason) {
        if (contextLost) {
            if (lostReason == null) {
                lostReason = path + " failed and lost the CUDA context (" + reason + ")";
            }
            fallbacks.increment();
            return Action.DEVICE_LOST;
        }
        if (user.forced().isPresent() && user.forced().get() == path) {
            throw new UnsupportedPathException(
                    "device " + device + " cannot run the forced attention path " + path + ": its kernel failed ("
                            + reason + "); unset spark.attune.attention.path to let Attune fall back");
        }
        failed.putIfAbsent(path, reason);
        fallbacks.increment();
        return Action.NEXT_PATH;
    }

    /**
     * Records that a kernel module other than the attention path's failed on this device (the
     * encoder's element-wise kernels, a GEMM): every path needs it, so excluding attention paths
     * one by one would not help and would blame them wrongly. The device is given up, as after a
     * lost context; its work runs on the host CPU.
     *
     * @param module the failed PTX module
     * @param reason the failure's message
     */
    public Action onModuleFailure(String module, boolean contextLost, String reason) {
        if (lostReason == null) {
            lostReason = "kernel module " + module
                    + (contextLost
                            ? " failed and lost the CUDA context"
                            : ", which every attention path needs, cannot run on this device")
                    + " (" + reason + ")";
        }
        fallbacks.increment();
        return Action.DEVICE_LOST;
    }

    /** Whether the device can still run work. */
    public boolean deviceUsable() {
        return lostReason == null;
    }

    /** Why the device was given up, when it was. */
    public Optional<String> lostReason() {
        return Optional.ofNullable(lostReason);
    }

    /** The paths that failed on this device, with the first reason each failed for. */
    public Map<AttentionPath, String> failedPaths() {
        return Map.copyOf(failed);
    }

    /** Batches that left their path (another path, or the CPU). */
    public long fallbacks() {
        return fallbacks.sum();
    }
}

package dev.attune.kernels.cuda;

/**
 * A kernel could not be launched, or failed while it ran (reported by the next synchronizing
 * call, since launches are asynchronous).
 *
 * <p>When {@link #contextLost()} is true the error is "sticky": the driver has put the context in
 * a state from which it cannot recover (an illegal address, a trap, a launch failure, an ECC or
 * hardware error), every later call on it fails, and the only remedy is to close the backend and
 * its context; when it is the primary context the process may need to restart before the device
 * can be used again. When false (for example too many resources requested), the context is fine
 * and another kernel may run.
 */
public class KernelFailureException extends CudaException {

    private final boolean contextLost;
    private final String module;

    public KernelFailureException(
            String message, int result, String resultName, String device, boolean contextLost, Throwable cause) {
        this(message, "", result, resultName, device, contextLost, cause);
    }

    /**
     * @param module the PTX module of the kernel whose launch failed, or "" when not known (a
     *     failure reported by a synchronization may come from any kernel enqueued before it)
     */
    public KernelFailureException(
            String message,
            String module,
            int result,
            String resultName,
            String device,
            boolean contextLost,
            Throwable cause) {
        super(message, result, resultName, device, cause);
        this.contextLost = contextLost;
        this.module = module == null ? "" : module;
    }

    /** Whether the context is unusable after this failure. */
    public boolean contextLost() {
        return contextLost;
    }

    /** The PTX module of the failed launch, e.g. {@code encoder_ops}; "" when the failure was reported later. */
    public String module() {
        return module;
    }
}

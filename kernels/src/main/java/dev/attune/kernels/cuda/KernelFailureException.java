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

    public KernelFailureException(
            String message, int result, String resultName, String device, boolean contextLost, Throwable cause) {
        super(message, result, resultName, device, cause);
        this.contextLost = contextLost;
    }

    /** Whether the context is unusable after this failure. */
    public boolean contextLost() {
        return contextLost;
    }
}

package dev.attune.kernels.cuda;

/**
 * A failure of the CUDA driver while Attune computed on a GPU: the driver call, the driver's
 * {@code CUresult} (number and name) and the device it happened on. Unchecked, like the other
 * failures of a computation; the runtime catches the subclasses to decide what to do next:
 * <ul>
 *   <li>{@link GpuOutOfMemoryException}: free cached memory, split the batch, retry;</li>
 *   <li>{@link KernelUnavailableException}: this device or driver cannot run the kernel; use the
 *       next attention path or GEMM variant;</li>
 *   <li>{@link KernelFailureException}: a launch or an asynchronous failure; when
 *       {@link KernelFailureException#contextLost()} the backend is finished and must be closed.</li>
 * </ul>
 * This class and its subclasses refer to no JCuda class, so code that merely catches them may be
 * loaded on machines without a driver.
 */
public class CudaException extends RuntimeException {

    /** {@link #result()} of failures that did not come from a driver call. */
    public static final int NO_RESULT = -1;

    private final int result;
    private final String resultName;
    private final String device;

    /**
     * @param message    the whole message (see {@link CudaResults#message})
     * @param result     the driver's CUresult, or {@link #NO_RESULT}
     * @param resultName its name, e.g. {@code CUDA_ERROR_ILLEGAL_ADDRESS}; "" with {@link #NO_RESULT}
     * @param device     the device's label, e.g. "cuda:0 NVIDIA H100 80GB HBM3"
     */
    public CudaException(String message, int result, String resultName, String device, Throwable cause) {
        super(message, cause);
        this.result = result;
        this.resultName = resultName == null ? "" : resultName;
        this.device = device == null ? "" : device;
    }

    /** The driver's CUresult number, or {@link #NO_RESULT}. */
    public int result() {
        return result;
    }

    /** The CUresult's name, e.g. {@code CUDA_ERROR_OUT_OF_MEMORY}; "" when no driver call failed. */
    public String resultName() {
        return resultName;
    }

    /** The label of the device the failure happened on. */
    public String device() {
        return device;
    }
}

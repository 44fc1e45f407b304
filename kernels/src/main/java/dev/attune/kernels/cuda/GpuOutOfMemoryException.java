package dev.attune.kernels.cuda;

/**
 * The device had no room: {@code CUDA_ERROR_OUT_OF_MEMORY} from an allocation or a launch. The
 * context stays usable; callers free what they hold ({@link CudaBackend#trimPool()}) and retry
 * with less (a smaller batch, a smaller query chunk).
 */
public class GpuOutOfMemoryException extends CudaException {

    private final long requestedBytes;

    public GpuOutOfMemoryException(
            String message, int result, String resultName, String device, long requestedBytes, Throwable cause) {
        super(message, result, resultName, device, cause);
        this.requestedBytes = requestedBytes;
    }

    /** Bytes the failed allocation asked for; 0 when the failure was not an allocation. */
    public long requestedBytes() {
        return requestedBytes;
    }
}

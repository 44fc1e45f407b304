package dev.attune.kernels.device;

/** A driver call failed; the message says which and why, in words (e.g. "cuInit: CUDA_ERROR_NO_DEVICE: ..."). */
public class DeviceQueryException extends Exception {

    private static final long serialVersionUID = 1L;

    public DeviceQueryException(String message) {
        super(message);
    }

    public DeviceQueryException(String message, Throwable cause) {
        super(message, cause);
    }
}

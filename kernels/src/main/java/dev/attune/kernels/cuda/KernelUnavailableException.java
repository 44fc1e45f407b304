package dev.attune.kernels.cuda;

/**
 * A kernel cannot run on this device and driver: its PTX module is missing from the classpath or
 * the driver refused it (a PTX ISA newer than the driver knows, invalid PTX, no binary for the
 * GPU; the message carries the JIT log), the device lacks the compute capability or shared memory
 * the kernel needs, or no kernel exists for the dtype or head dimension asked for. Nothing ran;
 * the context is fine, and a different path or variant may be tried.
 */
public class KernelUnavailableException extends CudaException {

    private final String module;

    public KernelUnavailableException(
            String message, String module, int result, String resultName, String device, Throwable cause) {
        super(message, result, resultName, device, cause);
        this.module = module == null ? "" : module;
    }

    /** The PTX module concerned, e.g. {@code flash_sm80}. */
    public String module() {
        return module;
    }
}

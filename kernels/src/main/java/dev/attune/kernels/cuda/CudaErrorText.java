package dev.attune.kernels.cuda;

import java.util.Map;

/**
 * Readable text for the CUDA driver's error names ({@code CUresult}), which is what JCuda puts in
 * a {@code CudaException}'s message. Pure; no JCuda classes; thread-safe.
 */
public final class CudaErrorText {

    private static final Map<String, String> TEXT = Map.ofEntries(
            Map.entry(
                    "CUDA_ERROR_NO_DEVICE",
                    "the driver sees no CUDA device (check CUDA_VISIBLE_DEVICES, and that"
                            + " the container was given GPUs and /dev/nvidia* devices)"),
            Map.entry(
                    "CUDA_ERROR_INSUFFICIENT_DRIVER", "the NVIDIA driver is older than the CUDA version in use needs"),
            Map.entry(
                    "CUDA_ERROR_SYSTEM_DRIVER_MISMATCH",
                    "libcuda.so.1 and the loaded NVIDIA kernel module are of"
                            + " different versions (reload the module or reboot after a driver update)"),
            Map.entry(
                    "CUDA_ERROR_COMPAT_NOT_SUPPORTED_ON_DEVICE",
                    "the CUDA forward-compatibility driver in use does"
                            + " not support this GPU (remove /usr/local/cuda/compat from the library path)"),
            Map.entry(
                    "CUDA_ERROR_STUB_LIBRARY",
                    "libcuda.so.1 is the CUDA toolkit's stub, not a driver (remove the"
                            + " toolkit's lib64/stubs directory from LD_LIBRARY_PATH)"),
            Map.entry(
                    "CUDA_ERROR_DEVICE_UNAVAILABLE",
                    "the device is unavailable: its compute mode is exclusive-process"
                            + " and another process holds it, or it is prohibited"),
            Map.entry("CUDA_ERROR_OUT_OF_MEMORY", "not enough device memory to create a context"),
            Map.entry("CUDA_ERROR_NOT_INITIALIZED", "the driver is not initialized (cuInit did not succeed)"),
            Map.entry("CUDA_ERROR_DEINITIALIZED", "the driver is shutting down"),
            Map.entry("CUDA_ERROR_INVALID_DEVICE", "no device has that ordinal"),
            Map.entry("CUDA_ERROR_ECC_UNCORRECTABLE", "an uncorrectable ECC error was detected on the device"),
            Map.entry("CUDA_ERROR_OPERATING_SYSTEM", "an operating-system call inside the driver failed"),
            Map.entry("CUDA_ERROR_NOT_PERMITTED", "the operation is not permitted"),
            Map.entry("CUDA_ERROR_NOT_SUPPORTED", "the operation is not supported on this device or driver"),
            Map.entry(
                    "CUDA_ERROR_UNKNOWN",
                    "the driver failed without saying why (often: the nvidia-uvm module is"
                            + " not loaded or /dev/nvidia-uvm is missing, or the GPU is in a bad state; see nvidia-smi and"
                            + " dmesg)"));

    private CudaErrorText() {}

    /** "cuInit: CUDA_ERROR_NO_DEVICE (the driver sees no CUDA device ...)"; unknown names are kept as they are. */
    public static String describe(String call, String errorName) {
        String name = errorName == null || errorName.isBlank() ? "unknown error" : errorName.strip();
        String text = TEXT.get(name);
        return call + ": " + name + (text == null ? "" : " (" + text + ")");
    }
}

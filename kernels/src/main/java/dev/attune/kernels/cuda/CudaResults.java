package dev.attune.kernels.cuda;

import java.util.HashMap;
import java.util.Map;

/**
 * What a driver {@code CUresult} means for Attune: which exception it becomes and whether the
 * context survives it. Pure (no JCuda class; the numbers are those of {@code cuda.h} up to CUDA
 * 13.0), immutable, thread-safe. A result this table does not know (a newer driver's) is, at a
 * synchronisation, taken as a lost context: work that failed in a way the code cannot name must
 * not be retried on the same context.
 */
public final class CudaResults {

    public static final int SUCCESS = 0;
    public static final int INVALID_VALUE = 1;
    public static final int OUT_OF_MEMORY = 2;
    public static final int INVALID_IMAGE = 200;
    public static final int NO_BINARY_FOR_GPU = 209;
    public static final int ECC_UNCORRECTABLE = 214;
    public static final int INVALID_PTX = 218;
    public static final int NVLINK_UNCORRECTABLE = 220;
    public static final int JIT_COMPILER_NOT_FOUND = 221;
    public static final int UNSUPPORTED_PTX_VERSION = 222;
    public static final int JIT_COMPILATION_DISABLED = 223;
    public static final int UNSUPPORTED_DEVSIDE_SYNC = 225;
    public static final int CONTAINED = 226;
    public static final int NOT_FOUND = 500;
    public static final int ILLEGAL_ADDRESS = 700;
    public static final int LAUNCH_OUT_OF_RESOURCES = 701;
    public static final int LAUNCH_TIMEOUT = 702;
    public static final int CONTEXT_IS_DESTROYED = 709;
    public static final int ASSERT = 710;
    public static final int HARDWARE_STACK_ERROR = 714;
    public static final int ILLEGAL_INSTRUCTION = 715;
    public static final int MISALIGNED_ADDRESS = 716;
    public static final int INVALID_ADDRESS_SPACE = 717;
    public static final int INVALID_PC = 718;
    public static final int LAUNCH_FAILED = 719;
    public static final int COOPERATIVE_LAUNCH_TOO_LARGE = 720;
    public static final int TENSOR_MEMORY_LEAK = 721;
    public static final int EXTERNAL_DEVICE = 911;
    public static final int INVALID_CLUSTER_SIZE = 912;
    public static final int UNKNOWN = 999;

    /** How a failed call is classified. */
    public enum Failure {
        /** The device has no room; the context is fine. */
        OUT_OF_MEMORY,
        /** The driver cannot load or run this code on this device; the context is fine. */
        KERNEL_UNAVAILABLE,
        /** A launch was refused as configured (resources, sizes); the context is fine. */
        LAUNCH_REFUSED,
        /** A sticky error: the context is corrupt and must be abandoned. */
        CONTEXT_LOST,
        /** Anything else (invalid values, handles, states): a plain {@link CudaException}. */
        OTHER
    }

    /** Where the failing call was; decides what an otherwise unclassified result becomes. */
    public enum Phase {
        /** Memory allocation. */
        ALLOCATE,
        /** Loading a module or looking up a function. */
        LOAD,
        /** Launching a kernel or enqueueing work on a stream. */
        LAUNCH,
        /** Waiting for a stream; reports failures of work enqueued before. */
        SYNCHRONIZE,
        /** Anything else. */
        OTHER
    }

    private static final Map<Integer, String> NAMES = Map.ofEntries(
            Map.entry(0, "CUDA_SUCCESS"),
            Map.entry(1, "CUDA_ERROR_INVALID_VALUE"),
            Map.entry(2, "CUDA_ERROR_OUT_OF_MEMORY"),
            Map.entry(3, "CUDA_ERROR_NOT_INITIALIZED"),
            Map.entry(4, "CUDA_ERROR_DEINITIALIZED"),
            Map.entry(5, "CUDA_ERROR_PROFILER_DISABLED"),
            Map.entry(6, "CUDA_ERROR_PROFILER_NOT_INITIALIZED"),
            Map.entry(7, "CUDA_ERROR_PROFILER_ALREADY_STARTED"),
            Map.entry(8, "CUDA_ERROR_PROFILER_ALREADY_STOPPED"),
            Map.entry(34, "CUDA_ERROR_STUB_LIBRARY"),
            Map.entry(36, "CUDA_ERROR_CALL_REQUIRES_NEWER_DRIVER"),
            Map.entry(46, "CUDA_ERROR_DEVICE_UNAVAILABLE"),
            Map.entry(100, "CUDA_ERROR_NO_DEVICE"),
            Map.entry(101, "CUDA_ERROR_INVALID_DEVICE"),
            Map.entry(102, "CUDA_ERROR_DEVICE_NOT_LICENSED"),
            Map.entry(200, "CUDA_ERROR_INVALID_IMAGE"),
            Map.entry(201, "CUDA_ERROR_INVALID_CONTEXT"),
            Map.entry(202, "CUDA_ERROR_CONTEXT_ALREADY_CURRENT"),
            Map.entry(205, "CUDA_ERROR_MAP_FAILED"),
            Map.entry(206, "CUDA_ERROR_UNMAP_FAILED"),
            Map.entry(207, "CUDA_ERROR_ARRAY_IS_MAPPED"),
            Map.entry(208, "CUDA_ERROR_ALREADY_MAPPED"),
            Map.entry(209, "CUDA_ERROR_NO_BINARY_FOR_GPU"),
            Map.entry(210, "CUDA_ERROR_ALREADY_ACQUIRED"),
            Map.entry(211, "CUDA_ERROR_NOT_MAPPED"),
            Map.entry(212, "CUDA_ERROR_NOT_MAPPED_AS_ARRAY"),
            Map.entry(213, "CUDA_ERROR_NOT_MAPPED_AS_POINTER"),
            Map.entry(214, "CUDA_ERROR_ECC_UNCORRECTABLE"),
            Map.entry(215, "CUDA_ERROR_UNSUPPORTED_LIMIT"),
            Map.entry(216, "CUDA_ERROR_CONTEXT_ALREADY_IN_USE"),
            Map.entry(217, "CUDA_ERROR_PEER_ACCESS_UNSUPPORTED"),
            Map.entry(218, "CUDA_ERROR_INVALID_PTX"),
            Map.entry(219, "CUDA_ERROR_INVALID_GRAPHICS_CONTEXT"),
            Map.entry(220, "CUDA_ERROR_NVLINK_UNCORRECTABLE"),
            Map.entry(221, "CUDA_ERROR_JIT_COMPILER_NOT_FOUND"),
            Map.entry(222, "CUDA_ERROR_UNSUPPORTED_PTX_VERSION"),
            Map.entry(223, "CUDA_ERROR_JIT_COMPILATION_DISABLED"),
            Map.entry(224, "CUDA_ERROR_UNSUPPORTED_EXEC_AFFINITY"),
            Map.entry(225, "CUDA_ERROR_UNSUPPORTED_DEVSIDE_SYNC"),
            Map.entry(226, "CUDA_ERROR_CONTAINED"),
            Map.entry(300, "CUDA_ERROR_INVALID_SOURCE"),
            Map.entry(301, "CUDA_ERROR_FILE_NOT_FOUND"),
            Map.entry(302, "CUDA_ERROR_SHARED_OBJECT_SYMBOL_NOT_FOUND"),
            Map.entry(303, "CUDA_ERROR_SHARED_OBJECT_INIT_FAILED"),
            Map.entry(304, "CUDA_ERROR_OPERATING_SYSTEM"),
            Map.entry(400, "CUDA_ERROR_INVALID_HANDLE"),
            Map.entry(401, "CUDA_ERROR_ILLEGAL_STATE"),
            Map.entry(402, "CUDA_ERROR_LOSSY_QUERY"),
            Map.entry(500, "CUDA_ERROR_NOT_FOUND"),
            Map.entry(600, "CUDA_ERROR_NOT_READY"),
            Map.entry(700, "CUDA_ERROR_ILLEGAL_ADDRESS"),
            Map.entry(701, "CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES"),
            Map.entry(702, "CUDA_ERROR_LAUNCH_TIMEOUT"),
            Map.entry(703, "CUDA_ERROR_LAUNCH_INCOMPATIBLE_TEXTURING"),
            Map.entry(704, "CUDA_ERROR_PEER_ACCESS_ALREADY_ENABLED"),
            Map.entry(705, "CUDA_ERROR_PEER_ACCESS_NOT_ENABLED"),
            Map.entry(706, "CUDA_ERROR_PEER_MEMORY_ALREADY_REGISTERED"),
            Map.entry(707, "CUDA_ERROR_PEER_MEMORY_NOT_REGISTERED"),
            Map.entry(708, "CUDA_ERROR_PRIMARY_CONTEXT_ACTIVE"),
            Map.entry(709, "CUDA_ERROR_CONTEXT_IS_DESTROYED"),
            Map.entry(710, "CUDA_ERROR_ASSERT"),
            Map.entry(711, "CUDA_ERROR_TOO_MANY_PEERS"),
            Map.entry(712, "CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED"),
            Map.entry(713, "CUDA_ERROR_HOST_MEMORY_NOT_REGISTERED"),
            Map.entry(714, "CUDA_ERROR_HARDWARE_STACK_ERROR"),
            Map.entry(715, "CUDA_ERROR_ILLEGAL_INSTRUCTION"),
            Map.entry(716, "CUDA_ERROR_MISALIGNED_ADDRESS"),
            Map.entry(717, "CUDA_ERROR_INVALID_ADDRESS_SPACE"),
            Map.entry(718, "CUDA_ERROR_INVALID_PC"),
            Map.entry(719, "CUDA_ERROR_LAUNCH_FAILED"),
            Map.entry(720, "CUDA_ERROR_COOPERATIVE_LAUNCH_TOO_LARGE"),
            Map.entry(721, "CUDA_ERROR_TENSOR_MEMORY_LEAK"),
            Map.entry(800, "CUDA_ERROR_NOT_PERMITTED"),
            Map.entry(801, "CUDA_ERROR_NOT_SUPPORTED"),
            Map.entry(802, "CUDA_ERROR_SYSTEM_NOT_READY"),
            Map.entry(803, "CUDA_ERROR_SYSTEM_DRIVER_MISMATCH"),
            Map.entry(804, "CUDA_ERROR_COMPAT_NOT_SUPPORTED_ON_DEVICE"),
            Map.entry(805, "CUDA_ERROR_MPS_CONNECTION_FAILED"),
            Map.entry(806, "CUDA_ERROR_MPS_RPC_FAILURE"),
            Map.entry(807, "CUDA_ERROR_MPS_SERVER_NOT_READY"),
            Map.entry(808, "CUDA_ERROR_MPS_MAX_CLIENTS_REACHED"),
            Map.entry(809, "CUDA_ERROR_MPS_MAX_CONNECTIONS_REACHED"),
            Map.entry(810, "CUDA_ERROR_MPS_CLIENT_TERMINATED"),
            Map.entry(811, "CUDA_ERROR_CDP_NOT_SUPPORTED"),
            Map.entry(812, "CUDA_ERROR_CDP_VERSION_MISMATCH"),
            Map.entry(900, "CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED"),
            Map.entry(901, "CUDA_ERROR_STREAM_CAPTURE_INVALIDATED"),
            Map.entry(902, "CUDA_ERROR_STREAM_CAPTURE_MERGE"),
            Map.entry(903, "CUDA_ERROR_STREAM_CAPTURE_UNMATCHED"),
            Map.entry(904, "CUDA_ERROR_STREAM_CAPTURE_UNJOINED"),
            Map.entry(905, "CUDA_ERROR_STREAM_CAPTURE_ISOLATION"),
            Map.entry(906, "CUDA_ERROR_STREAM_CAPTURE_IMPLICIT"),
            Map.entry(907, "CUDA_ERROR_CAPTURED_EVENT"),
            Map.entry(908, "CUDA_ERROR_STREAM_CAPTURE_WRONG_THREAD"),
            Map.entry(909, "CUDA_ERROR_TIMEOUT"),
            Map.entry(910, "CUDA_ERROR_GRAPH_EXEC_UPDATE_FAILURE"),
            Map.entry(911, "CUDA_ERROR_EXTERNAL_DEVICE"),
            Map.entry(912, "CUDA_ERROR_INVALID_CLUSTER_SIZE"),
            Map.entry(913, "CUDA_ERROR_FUNCTION_NOT_LOADED"),
            Map.entry(914, "CUDA_ERROR_INVALID_RESOURCE_TYPE"),
            Map.entry(915, "CUDA_ERROR_INVALID_RESOURCE_CONFIGURATION"),
            Map.entry(916, "CUDA_ERROR_KEY_ROTATION"),
            Map.entry(999, "CUDA_ERROR_UNKNOWN"));

    private static final Map<String, Integer> CODES = new HashMap<>();

    static {
        NAMES.forEach((code, name) -> CODES.put(name, code));
    }

    private CudaResults() {}

    /** The name of a result, e.g. "CUDA_ERROR_ILLEGAL_ADDRESS"; "CUresult 1234" for numbers this table lacks. */
    public static String name(int result) {
        String n = NAMES.get(result);
        return n != null ? n : "CUresult " + result;
    }

    /**
     * The number of a result name, as JCuda puts it in its exception messages (the name alone, or
     * "INVALID CUresult: 1234" for numbers JCuda does not know); {@link #UNKNOWN} when it is neither.
     */
    public static int code(String name) {
        if (name == null) {
            return UNKNOWN;
        }
        String s = name.strip();
        Integer c = CODES.get(s);
        if (c != null) {
            return c;
        }
        int colon = s.lastIndexOf(':');
        String tail = (colon >= 0 ? s.substring(colon + 1) : s.replace("CUresult", "")).strip();
        try {
            return Integer.parseInt(tail);
        } catch (NumberFormatException e) {
            return UNKNOWN;
        }
    }

    /** The class of a non-success result. */
    public static Failure classify(int result) {
        return switch (result) {
            case OUT_OF_MEMORY -> Failure.OUT_OF_MEMORY;
            case INVALID_IMAGE,
                    NO_BINARY_FOR_GPU,
                    INVALID_PTX,
                    JIT_COMPILER_NOT_FOUND,
                    UNSUPPORTED_PTX_VERSION,
                    JIT_COMPILATION_DISABLED,
                    UNSUPPORTED_DEVSIDE_SYNC -> Failure.KERNEL_UNAVAILABLE;
            case LAUNCH_OUT_OF_RESOURCES, COOPERATIVE_LAUNCH_TOO_LARGE, INVALID_CLUSTER_SIZE -> Failure.LAUNCH_REFUSED;
            case ECC_UNCORRECTABLE,
                    NVLINK_UNCORRECTABLE,
                    ILLEGAL_ADDRESS,
                    LAUNCH_TIMEOUT,
                    CONTEXT_IS_DESTROYED,
                    ASSERT,
                    HARDWARE_STACK_ERROR,
                    ILLEGAL_INSTRUCTION,
                    MISALIGNED_ADDRESS,
                    INVALID_ADDRESS_SPACE,
                    INVALID_PC,
                    LAUNCH_FAILED,
                    TENSOR_MEMORY_LEAK,
                    CONTAINED,
                    EXTERNAL_DEVICE,
                    UNKNOWN -> Failure.CONTEXT_LOST;
            default -> Failure.OTHER;
        };
    }

    /**
     * The class of a non-success result reported in {@code phase}: as {@link #classify(int)}, but a
     * result this table does not know is a lost context when a synchronisation reports it.
     */
    public static Failure classify(int result, Phase phase) {
        if (phase == Phase.SYNCHRONIZE && !NAMES.containsKey(result)) {
            return Failure.CONTEXT_LOST;
        }
        return classify(result);
    }

    /** Whether the context cannot be used after this result. */
    public static boolean contextLost(int result) {
        return classify(result) == Failure.CONTEXT_LOST;
    }

    /** "cuLaunchKernel(gemm_sm80_f16): CUDA_ERROR_ILLEGAL_ADDRESS (...) on cuda:0 NVIDIA A100". */
    public static String message(String call, int result, String device) {
        return CudaErrorText.describe(call, name(result)) + " on " + device;
    }

    /**
     * The exception for a failed call. Out-of-memory, unavailable code and sticky errors are
     * classified the same wherever they come from; other results become a
     * {@link KernelFailureException} (context intact) at launches and synchronizations, and a plain
     * {@link CudaException} elsewhere.
     *
     * @param requestedBytes bytes an allocation asked for (0 otherwise), carried by the out-of-memory exception
     * @param module         the PTX module concerned, or null
     */
    public static CudaException exception(
            int result, String call, Phase phase, String device, long requestedBytes, String module, Throwable cause) {
        if (result == SUCCESS) {
            throw new IllegalArgumentException(call + " succeeded; there is no exception to make");
        }
        String name = name(result);
        String message = message(call, result, device);
        return switch (classify(result, phase)) {
            case OUT_OF_MEMORY ->
                new GpuOutOfMemoryException(
                        message + (requestedBytes > 0 ? " (asked for " + requestedBytes + " bytes)" : ""),
                        result,
                        name,
                        device,
                        requestedBytes,
                        cause);
            case KERNEL_UNAVAILABLE -> new KernelUnavailableException(message, module, result, name, device, cause);
            case CONTEXT_LOST ->
                new KernelFailureException(
                        message + "; the CUDA context is lost and the backend" + " must be closed",
                        module,
                        result,
                        name,
                        device,
                        true,
                        cause);
            case LAUNCH_REFUSED -> new KernelFailureException(message, module, result, name, device, false, cause);
            case OTHER ->
                phase == Phase.LAUNCH || phase == Phase.SYNCHRONIZE
                        ? new KernelFailureException(message, module, result, name, device, false, cause)
                        : new CudaException(message, result, name, device, cause);
        };
    }
}

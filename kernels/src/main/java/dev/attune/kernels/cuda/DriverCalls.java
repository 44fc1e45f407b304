package dev.attune.kernels.cuda;

import jcuda.driver.JCudaDriver;

/**
 * Runs JCuda driver calls and turns a failure into Attune's classified {@link CudaException}
 * ({@link CudaResults}). JCuda either returns the {@code CUresult} or, with its exceptions
 * enabled (a process-wide switch {@link JCudaDeviceQuery} turns on), throws a
 * {@code jcuda.CudaException} carrying the result's name; both are handled, and the switch is
 * left as it is. Stateless, thread-safe.
 */
final class DriverCalls {

    /** One JCuda driver call returning its CUresult. */
    @FunctionalInterface
    interface Call {
        int run();
    }

    private DriverCalls() {}

    /** The call's CUresult, whichever way JCuda reports it. */
    static int result(Call call) {
        try {
            return call.run();
        } catch (jcuda.CudaException e) {
            return CudaResults.code(e.getMessage());
        }
    }

    /** Runs the call; a failure becomes the exception {@link CudaResults#exception} classifies. */
    static void check(String what, CudaResults.Phase phase, String device, Call call) {
        int r = result(call);
        if (r != CudaResults.SUCCESS) {
            throw CudaResults.exception(r, what, phase, device, 0, null, null);
        }
    }

    /** As {@link #check}, naming the module concerned. */
    static void check(String what, CudaResults.Phase phase, String device, String module, Call call) {
        int r = result(call);
        if (r != CudaResults.SUCCESS) {
            throw CudaResults.exception(r, what, phase, device, 0, module, null);
        }
    }

    /** The driver's API version, e.g. 12060; 0 if it cannot be read. */
    static int driverVersion() {
        int[] v = new int[1];
        return result(() -> JCudaDriver.cuDriverGetVersion(v)) == CudaResults.SUCCESS ? v[0] : 0;
    }
}

package dev.attune.kernels.cuda;

import dev.attune.kernels.cuda.launch.LaunchShape;
import jcuda.driver.CUfunction;
import jcuda.driver.CUstream;
import jcuda.driver.JCudaDriver;

/**
 * Launches kernels of the backend's modules on a stream: looks the function up in the
 * {@link PtxModuleCache} (loading and opting in to shared memory as needed) and calls
 * {@code cuLaunchKernel} with the {@link LaunchShape}'s grid, block and dynamic shared memory.
 *
 * <p>Failure: a launch the driver refuses at once raises the classified exception here; failures
 * while the kernel runs surface at the stream's next synchronization ({@link CudaSession#synchronize}).
 *
 * <p>Threading: thread-safe; the caller binds the context and owns the stream.
 */
final class KernelLauncher {

    private final PtxModuleCache modules;
    private final String device;

    KernelLauncher(PtxModuleCache modules, String device) {
        this.modules = modules;
        this.device = device;
    }

    void launch(String module, LaunchShape shape, CUstream stream, KernelArgs args) {
        CUfunction f = modules.function(module, shape);
        int r = DriverCalls.result(() -> JCudaDriver.cuLaunchKernel(
                f,
                shape.gridX(),
                shape.gridY(),
                shape.gridZ(),
                shape.block(),
                1,
                1,
                shape.sharedBytes(),
                stream,
                args.toKernelParams(),
                null));
        if (r != CudaResults.SUCCESS) {
            throw CudaResults.exception(
                    r,
                    "cuLaunchKernel(" + shape.kernel() + ", grid (" + shape.gridX() + ", "
                            + shape.gridY() + ", " + shape.gridZ() + "), block " + shape.block() + ", shared "
                            + shape.sharedBytes() + ")",
                    CudaResults.Phase.LAUNCH,
                    device,
                    0,
                    module,
                    null);
        }
    }
}

package dev.attune.kernels.cuda;

import jcuda.driver.CUdeviceptr;
import jcuda.driver.JCudaDriver;

/**
 * {@link DeviceAllocator} on {@code cuMemAlloc}/{@code cuMemFree} in one primary context. Makes
 * the context current on the calling thread for each call (restoring the thread's previous one
 * after it), so the pool may allocate or trim from any thread. Thread-safe without a lock of its own (the driver's memory calls are); the pool calls it
 * concurrently from several threads, never under its monitor.
 */
final class DriverAllocator implements DeviceAllocator<CUdeviceptr> {

    private final PrimaryContext context;
    private final String device;

    DriverAllocator(PrimaryContext context, String device) {
        this.context = context;
        this.device = device;
    }

    @Override
    public CUdeviceptr allocate(long bytes) {
        CUdeviceptr p = new CUdeviceptr();
        int r;
        try (PrimaryContext.Scope scope = context.enter()) {
            r = DriverCalls.result(() -> JCudaDriver.cuMemAlloc(p, bytes));
        }
        if (r != CudaResults.SUCCESS) {
            throw CudaResults.exception(
                    r, "cuMemAlloc(" + bytes + ")", CudaResults.Phase.ALLOCATE, device, bytes, null, null);
        }
        return p;
    }

    @Override
    public void free(CUdeviceptr block) {
        try (PrimaryContext.Scope scope = context.enter()) {
            DriverCalls.check("cuMemFree", CudaResults.Phase.OTHER, device, () -> JCudaDriver.cuMemFree(block));
        }
    }
}

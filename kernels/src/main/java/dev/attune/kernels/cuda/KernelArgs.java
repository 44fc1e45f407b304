package dev.attune.kernels.cuda;

import java.util.ArrayList;
import java.util.List;
import jcuda.NativePointerObject;
import jcuda.Pointer;
import jcuda.driver.CUdeviceptr;

/**
 * The parameters of one kernel launch, in the kernel's declaration order, in the form
 * {@code cuLaunchKernel} wants them: an array of pointers, each to one argument's value. Each
 * method appends one argument of the C type it names. Single use, not thread-safe.
 */
final class KernelArgs {

    private final List<NativePointerObject> params = new ArrayList<>(16);

    /** {@code T*} / {@code const T*}: the array's device address. */
    KernelArgs ptr(GpuArray a) {
        params.add(Pointer.to(a.ptr()));
        return this;
    }

    /** A device pointer that may be null ({@code nullptr} when {@code a} is null). */
    KernelArgs ptrOrNull(GpuArray a) {
        params.add(Pointer.to(a == null ? new CUdeviceptr() : a.ptr()));
        return this;
    }

    /** {@code int}. */
    KernelArgs i32(int v) {
        params.add(Pointer.to(new int[] {v}));
        return this;
    }

    /** {@code long long}. */
    KernelArgs i64(long v) {
        params.add(Pointer.to(new long[] {v}));
        return this;
    }

    /** {@code float}. */
    KernelArgs f32(float v) {
        params.add(Pointer.to(new float[] {v}));
        return this;
    }

    int count() {
        return params.size();
    }

    /** The {@code void** kernelParams} of the launch. */
    Pointer toKernelParams() {
        return Pointer.to(params.toArray(new NativePointerObject[0]));
    }
}

package dev.attune.kernels.cuda;

import dev.attune.kernels.select.ComputeDtype;
import jcuda.driver.CUdeviceptr;

/**
 * A typed, one-dimensional view of device memory: {@code elements} values of {@code dtype}
 * (fp32, fp16 or bf16 bits), or of int32 when {@code dtype} is null, starting at {@code ptr}.
 *
 * <p>Lifecycle: a view does not own its memory. Arrays from {@link CudaSession#alloc} live until
 * their session closes (or {@link CudaSession#recycle}), those from {@link CudaBackend#resident}
 * until {@link CudaBackend#release}; using a view after that reads memory that belongs to
 * someone else. Slices share their parent's memory and lifetime.
 *
 * <p>Threading: immutable; the memory it names is accessed in stream order of the session that
 * uses it.
 *
 * @param ptr        device address of element 0
 * @param dtype      element type; null for int32
 * @param elements   number of elements
 * @param byteOffset bytes from the start of the allocation the view lies in; allocations start
 *                   on at least 256-byte boundaries, so this decides the view's alignment, which
 *                   the tensor-core kernels' 16-byte loads need
 */
public record GpuArray(CUdeviceptr ptr, ComputeDtype dtype, long elements, long byteOffset) {

    /** A view of a whole allocation. */
    public GpuArray(CUdeviceptr ptr, ComputeDtype dtype, long elements) {
        this(ptr, dtype, elements, 0);
    }

    public GpuArray {
        if (byteOffset < 0) {
            throw new IllegalArgumentException(
                    "a GPU array cannot start " + byteOffset + " bytes before its allocation");
        }
        if (ptr == null) {
            throw new IllegalArgumentException("a GPU array needs a device pointer");
        }
        if (elements < 0) {
            throw new IllegalArgumentException("a GPU array cannot hold " + elements + " elements");
        }
    }

    /** Whether the elements are int32. */
    public boolean isInt() {
        return dtype == null;
    }

    /** Bytes of one element. */
    public int elementBytes() {
        return dtype == null ? Integer.BYTES : dtype.bytes();
    }

    /** Bytes of the whole view. */
    public long bytes() {
        return elements * elementBytes();
    }

    /** Elements {@code [offset, offset + length)} of this view, sharing its memory. */
    public GpuArray slice(long offset, long length) {
        if (offset < 0 || length < 0 || offset > elements - length) {
            throw new IndexOutOfBoundsException(
                    "slice [" + offset + ", " + offset + " + " + length + ") of an array of " + elements + " elements");
        }
        return new GpuArray(
                ptr.withByteOffset(offset * elementBytes()), dtype, length, byteOffset + offset * elementBytes());
    }

    /** Whether element 0 lies on a 16-byte boundary, as 16-byte vector loads and cp.async need. */
    public boolean aligned16() {
        return byteOffset % 16 == 0;
    }

    /** "fp16[4096]", "int32[17]". */
    public String describe() {
        return (dtype == null ? "int32" : dtype.id()) + "[" + elements + "]";
    }
}

package dev.attune.kernels.cuda;

/**
 * Raw device memory for {@link DeviceMemoryPool}: the one seam between the pool's policy and the
 * driver, so the policy is tested without a GPU.
 *
 * <p>Threading: the pool calls it without holding its own lock, from any thread and concurrently
 * (an allocation on one thread while another frees), so that a call that waits for the device
 * does not hold up other threads' use of the cache; implementations must be thread-safe.
 *
 * @param <B> a handle of one allocated block
 */
public interface DeviceAllocator<B> {

    /**
     * A new block of exactly {@code bytes} bytes.
     *
     * @throws GpuOutOfMemoryException when the device has no room for it
     */
    B allocate(long bytes);

    /** Gives a block back to the device. The block is idle: no stream uses it any more. */
    void free(B block);
}

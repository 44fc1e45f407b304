package dev.attune.kernels.cuda.launch;

import dev.attune.kernels.select.AttentionPath;
import dev.attune.kernels.select.ComputeDtype;
import java.util.Optional;

/**
 * Launch shapes of one fused attention path (flash-sm80, flash-sm75, mem-efficient). Each
 * implementation lives next to its kernel's tile traits and must agree with the CUDA source:
 * the threads per block with {@code __launch_bounds__}, the shared memory with what the kernel
 * body indexes. A test reads {@code .maxntid} from the shipped PTX to hold the first.
 *
 * <p>Every fused attention kernel takes the same arguments, in this order:
 * <pre>
 *   const T* q, const T* k, const T* v, T* o,   // packed tokens; element (token, head, d) at
 *                                               //   base + token·stride + head·head_dim + d
 *   const int* cu_seqlens,                      // (batch + 1) prefix sums of row lengths
 *   int heads, int head_dim,
 *   int q_stride, int kv_stride, int o_stride,  // elements between consecutive tokens
 *   float scale, int causal                     // softmax scale; 1 = key j ≤ query i only
 * </pre>
 * and runs on the grid {@code (ceil(max_seqlen / BLOCK_M), heads, batch)}; a block whose query
 * tile starts past its row's length returns at once.
 *
 * <p>Threading: implementations are immutable and shared.
 */
public interface AttentionLaunch {

    /** The fused kernel family of a GPU path; empty for {@code math} (three kernels) and the CPU paths. */
    static Optional<AttentionLaunch> of(AttentionPath path) {
        return switch (path) {
            case FLASH_SM80 -> Optional.of(FlashSm80Launch.INSTANCE);
            case FLASH_SM75 -> Optional.of(FlashSm75Launch.INSTANCE);
            case MEM_EFFICIENT -> Optional.of(MemEfficientLaunch.INSTANCE);
            case MATH, CPU_FLASH, CPU_MATH -> Optional.empty();
        };
    }

    /**
     * The PTX module holding a GPU path's attention kernels (its fused family's, or the
     * {@code math} path's three); empty for the CPU paths. A failure in any other module is not
     * the attention path's.
     */
    static Optional<String> moduleOf(AttentionPath path) {
        if (path == AttentionPath.MATH) {
            return Optional.of(MathAttentionLaunch.INSTANCE.module());
        }
        return of(path).map(AttentionLaunch::module);
    }

    /** The PTX module (resource {@code dev/attune/kernels/ptx/<module>.ptx}) holding the kernels. */
    String module();

    /** Whether a kernel exists for this dtype and head dimension; {@link #shape} throws otherwise. */
    boolean supports(ComputeDtype dtype, int headDim);

    /** The launch for one attention call over a packed batch. */
    LaunchShape shape(ComputeDtype dtype, int headDim, int heads, int batch, int maxSeqlen);
}

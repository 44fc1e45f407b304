package dev.attune.kernels.cuda;

import dev.attune.kernels.select.ComputeDtype;

/**
 * Checks of the arguments of {@link CudaOps}, made on the host before anything is enqueued: a
 * kernel given a too-small buffer would write past it and lose the context, so sizes are held
 * against the arrays' element counts here. Pure, stateless.
 */
final class OpChecks {

    private OpChecks() {}

    static void positive(String op, String what, long v) {
        if (v < 1) {
            throw new IllegalArgumentException(op + ": " + what + " must be positive, got " + v);
        }
    }

    static void nonNegative(String op, String what, long v) {
        if (v < 0) {
            throw new IllegalArgumentException(op + ": " + what + " must not be negative, got " + v);
        }
    }

    /** {@code a} is non-null, of {@code dtype} (null: int32), with at least {@code elements} elements. */
    static void holds(String op, String name, GpuArray a, ComputeDtype dtype, long elements) {
        if (a == null) {
            throw new IllegalArgumentException(op + ": " + name + " is required");
        }
        if (a.dtype() != dtype) {
            throw new IllegalArgumentException(
                    op + ": " + name + " is " + a.describe() + ", expected " + (dtype == null ? "int32" : dtype.id()));
        }
        if (a.elements() < elements) {
            throw new IllegalArgumentException(
                    op + ": " + name + " is " + a.describe() + ", needs at least " + elements + " elements");
        }
    }

    /** The dtype of a floating-point array that sets the kernel's {@code T}. */
    static ComputeDtype floating(String op, String name, GpuArray a) {
        if (a == null) {
            throw new IllegalArgumentException(op + ": " + name + " is required");
        }
        if (a.isInt()) {
            throw new IllegalArgumentException(
                    op + ": " + name + " is " + a.describe() + ", expected fp32, fp16 or bf16");
        }
        return a.dtype();
    }

    static void gemm(GpuArray a, GpuArray w, GpuArray bias, GpuArray c, int m, int n, int k, int epilogue) {
        String op = "gemm";
        positive(op, "m", m);
        positive(op, "n", n);
        positive(op, "k", k);
        ComputeDtype dt = floating(op, "a", a);
        holds(op, "a", a, dt, (long) m * k);
        holds(op, "w", w, dt, (long) n * k);
        if (bias != null) {
            holds(op, "bias", bias, dt, n);
        }
        holds(op, "c", c, dt, (long) m * n);
        if (epilogue != 0 && epilogue != 1) {
            throw new IllegalArgumentException(
                    "gemm: epilogue must be GemmLaunch.EPILOGUE_NONE (0) or _GELU (1), got " + epilogue);
        }
    }

    /**
     * Attention over a packed batch: shapes, strides and dtypes. The tokens a row owns are known
     * only on the device ({@code cuSeqlens}), so the buffers are held against the most tokens
     * {@code batch · maxSeqlen} could hold only where a caller passes exact sizes; here each must
     * hold at least one token's heads and agree in dtype.
     */
    static void attention(
            GpuArray q,
            GpuArray k,
            GpuArray v,
            GpuArray o,
            GpuArray cuSeqlens,
            int batch,
            int maxSeqlen,
            int heads,
            int headDim,
            int qStride,
            int kvStride,
            int oStride) {
        String op = "attention";
        positive(op, "batch", batch);
        nonNegative(op, "maxSeqlen", maxSeqlen);
        positive(op, "heads", heads);
        positive(op, "headDim", headDim);
        long width = (long) heads * headDim;
        if (qStride < width || kvStride < width || oStride < width) {
            throw new IllegalArgumentException("attention: strides (q " + qStride + ", kv " + kvStride + ", o "
                    + oStride + ") must be at least heads * headDim = " + width);
        }
        ComputeDtype dt = floating(op, "q", q);
        holds(op, "q", q, dt, width);
        holds(op, "k", k, dt, width);
        holds(op, "v", v, dt, width);
        holds(op, "o", o, dt, width);
        holds(op, "cuSeqlens", cuSeqlens, null, batch + 1L);
    }

    static void embed(
            GpuArray ids,
            GpuArray typeIds,
            GpuArray positionIds,
            GpuArray word,
            GpuArray position,
            GpuArray type,
            GpuArray out,
            int tokens,
            int hidden) {
        String op = "embed";
        nonNegative(op, "tokens", tokens);
        positive(op, "hidden", hidden);
        ComputeDtype dt = floating(op, "out", out);
        holds(op, "ids", ids, null, tokens);
        holds(op, "typeIds", typeIds, null, tokens);
        holds(op, "positionIds", positionIds, null, tokens);
        holds(op, "word", word, dt, hidden);
        holds(op, "position", position, dt, hidden);
        holds(op, "type", type, dt, hidden);
        holds(op, "out", out, dt, (long) tokens * hidden);
    }

    static void gatherRows(GpuArray ids, GpuArray table, int tableRows, GpuArray out, int rows, int width) {
        String op = "gatherRows";
        nonNegative(op, "rows", rows);
        positive(op, "width", width);
        positive(op, "tableRows", tableRows);
        ComputeDtype dt = floating(op, "out", out);
        holds(op, "ids", ids, null, rows);
        holds(op, "table", table, dt, (long) tableRows * width);
        holds(op, "out", out, dt, (long) rows * width);
    }

    static void addLayerNorm(GpuArray x, GpuArray residual, GpuArray gamma, GpuArray beta, int rows, int hidden) {
        String op = "addLayerNorm";
        nonNegative(op, "rows", rows);
        positive(op, "hidden", hidden);
        ComputeDtype dt = floating(op, "x", x);
        holds(op, "x", x, dt, (long) rows * hidden);
        if (residual != null) {
            holds(op, "residual", residual, dt, (long) rows * hidden);
        }
        holds(op, "gamma", gamma, dt, hidden);
        holds(op, "beta", beta, dt, hidden);
    }

    static void pool(String op, GpuArray x, GpuArray cuSeqlens, int batch, int hidden, GpuArray out) {
        positive(op, "batch", batch);
        positive(op, "hidden", hidden);
        ComputeDtype dt = floating(op, "x", x);
        holds(op, "x", x, dt, hidden);
        holds(op, "cuSeqlens", cuSeqlens, null, batch + 1L);
        holds(op, "out", out, ComputeDtype.FP32, (long) batch * hidden);
    }
}

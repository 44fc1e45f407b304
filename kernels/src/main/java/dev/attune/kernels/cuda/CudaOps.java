package dev.attune.kernels.cuda;

import dev.attune.kernels.cuda.launch.AttentionLaunch;
import dev.attune.kernels.cuda.launch.EncoderOpsLaunch;
import dev.attune.kernels.cuda.launch.GemmLaunch;
import dev.attune.kernels.cuda.launch.GemmVariant;
import dev.attune.kernels.cuda.launch.MathAttentionLaunch;
import dev.attune.kernels.device.ComputeCapability;
import dev.attune.kernels.select.AttentionPath;
import dev.attune.kernels.select.ComputeDtype;

/**
 * The kernels of a BERT-family encoder, enqueued on the stream of one {@link CudaSession}: GEMM,
 * attention on each GPU path, embedding, row gather, LayerNorm, GELU, residual add, pooling, L2
 * normalization and a non-finite check. Argument orders and launch shapes are those of the launch
 * classes in {@link dev.attune.kernels.cuda.launch}; activations are packed tokens, row-major.
 *
 * <p>Every method checks its arguments on the host first ({@link IllegalArgumentException}, nothing
 * enqueued), then launches asynchronously and returns; only {@link #countNonFinite} waits. Results
 * are visible to later work of the same session, and to the host after a download.
 *
 * <p>Threading: as its session, one thread at a time.
 *
 * <p>Failure: {@link KernelUnavailableException} when the device cannot run the requested kernel
 * (path needs a newer GPU, no kernel for the dtype or head_dim, module refused by the driver);
 * {@link GpuOutOfMemoryException} for scratch memory; {@link KernelFailureException} from launches.
 */
public final class CudaOps {

    private final CudaSession session;

    CudaOps(CudaSession session) {
        this.session = session;
    }

    private ComputeCapability capability() {
        return session.device().capability();
    }

    /**
     * {@code c = epilogue(a · wᵀ + bias)} with the fastest {@link GemmVariant} the device runs for
     * the dtype and shape ({@link GemmVariant#best}, falling back to SIMT where n or k is not a
     * multiple of 8 or the tensor-core module cannot load here).
     *
     * @param a        (m, k) activations
     * @param w        (n, k) weights, as a PyTorch Linear stores them
     * @param biasOrNull (n) or null
     * @param c        (m, n) output
     * @param epilogue {@link GemmLaunch#EPILOGUE_NONE} or {@link GemmLaunch#EPILOGUE_GELU}
     */
    public void gemm(GpuArray a, GpuArray w, GpuArray biasOrNull, GpuArray c, int m, int n, int k, int epilogue) {
        OpChecks.gemm(a, w, biasOrNull, c, m, n, k, epilogue);
        ComputeDtype dt = a.dtype();
        GemmVariant v = GemmVariant.best(capability(), dt);
        if (v != GemmVariant.SIMT && GemmLaunch.supports(v, dt, n, k) && aligned16(a, w, c)) {
            try {
                launchGemm(v, a, w, biasOrNull, c, m, n, k, epilogue);
                return;
            } catch (KernelUnavailableException e) {
                // the tensor-core module does not load on this driver/device: CUDA cores still can
            }
        }
        launchGemm(GemmVariant.SIMT, a, w, biasOrNull, c, m, n, k, epilogue);
    }

    /**
     * As {@link #gemm(GpuArray, GpuArray, GpuArray, GpuArray, int, int, int, int)} with a chosen
     * variant, for tests and benchmarks.
     *
     * @throws KernelUnavailableException when the device or shape does not allow the variant
     */
    public void gemm(
            GemmVariant variant,
            GpuArray a,
            GpuArray w,
            GpuArray biasOrNull,
            GpuArray c,
            int m,
            int n,
            int k,
            int epilogue) {
        OpChecks.gemm(a, w, biasOrNull, c, m, n, k, epilogue);
        if (!runs(variant, a.dtype(), n, k) || (variant != GemmVariant.SIMT && !aligned16(a, w, c))) {
            throw new KernelUnavailableException(
                    variant.module() + " cannot multiply " + a.dtype() + " with n=" + n + ", k=" + k
                            + (aligned16(a, w, c) ? "" : " from operands not on 16-byte boundaries") + " on "
                            + session.label() + " (" + capability().smName() + ")",
                    variant.module(),
                    CudaException.NO_RESULT,
                    "",
                    session.label(),
                    null);
        }
        launchGemm(variant, a, w, biasOrNull, c, m, n, k, epilogue);
    }

    /** Whether this device has the instructions of the variant and the variant takes the dtype and shape. */
    public boolean runs(GemmVariant variant, ComputeDtype dtype, int n, int k) {
        return capability().atLeast(variant.minCapability()) && GemmLaunch.supports(variant, dtype, n, k);
    }

    private void launchGemm(
            GemmVariant v, GpuArray a, GpuArray w, GpuArray bias, GpuArray c, int m, int n, int k, int epilogue) {
        session.launch(
                v.module(),
                GemmLaunch.shape(v, a.dtype(), m, n, k),
                new KernelArgs()
                        .ptr(a)
                        .ptr(w)
                        .ptrOrNull(bias)
                        .ptr(c)
                        .i32(m)
                        .i32(n)
                        .i32(k)
                        .i32(epilogue));
    }

    /**
     * Multi-head attention over a packed batch on a GPU path. Element {@code (token, head, d)} of
     * Q is at {@code q + token·qStride + head·headDim + d} (likewise K and V with {@code kvStride},
     * O with {@code oStride}), so Q, K and V may be slices of one fused QKV buffer.
     *
     * @param path       {@code FLASH_SM80}, {@code FLASH_SM75}, {@code MEM_EFFICIENT} or {@code MATH}
     * @param cuSeqlens  int32 (batch + 1) prefix sums of the row lengths
     * @param maxSeqlen  the longest row; 0 enqueues nothing
     * @param queryChunk math path only: queries per launch (bounds the fp32 score buffer,
     *                   {@code batch · heads · queryChunk · maxSeqlen} floats); 0 or less for all at once
     */
    public void attention(
            AttentionPath path,
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
            int oStride,
            float scale,
            boolean causal,
            int queryChunk) {
        OpChecks.attention(q, k, v, o, cuSeqlens, batch, maxSeqlen, heads, headDim, qStride, kvStride, oStride);
        if (path == null || !path.isGpu()) {
            throw new IllegalArgumentException("attention on a CUDA session needs a GPU path, got " + path);
        }
        ComputeDtype dt = q.dtype();
        if (maxSeqlen == 0) {
            return;
        }
        if (path == AttentionPath.MATH) {
            math(
                    q,
                    k,
                    v,
                    o,
                    cuSeqlens,
                    batch,
                    maxSeqlen,
                    heads,
                    headDim,
                    qStride,
                    kvStride,
                    oStride,
                    scale,
                    causal,
                    queryChunk);
            return;
        }
        AttentionLaunch launch = fusedLaunch(path, dt, headDim);
        if (path != AttentionPath.MEM_EFFICIENT
                && !(aligned16(q, k, v, o) && qStride % 8 == 0 && kvStride % 8 == 0 && oStride % 8 == 0)) {
            throw new KernelUnavailableException(
                    path.id() + " loads and stores 16-byte rows: Q, K, V and O must start on "
                            + "16-byte boundaries and their strides (" + qStride + ", " + kvStride + ", " + oStride
                            + ") be multiples of 8 elements",
                    launch.module(),
                    CudaException.NO_RESULT,
                    "",
                    session.label(),
                    null);
        }
        session.launch(
                launch.module(),
                launch.shape(dt, headDim, heads, batch, maxSeqlen),
                new KernelArgs()
                        .ptr(q)
                        .ptr(k)
                        .ptr(v)
                        .ptr(o)
                        .ptr(cuSeqlens)
                        .i32(heads)
                        .i32(headDim)
                        .i32(qStride)
                        .i32(kvStride)
                        .i32(oStride)
                        .f32(scale)
                        .i32(causal ? 1 : 0));
    }

    private static boolean aligned16(GpuArray... arrays) {
        for (GpuArray a : arrays) {
            if (!a.aligned16()) {
                return false;
            }
        }
        return true;
    }

    /** The fused kernel family of a path, if this device and the dtype and head_dim allow it. */
    private AttentionLaunch fusedLaunch(AttentionPath path, ComputeDtype dt, int headDim) {
        AttentionLaunch launch = AttentionLaunch.of(path)
                .orElseThrow(() -> new IllegalArgumentException("not a fused attention path: " + path));
        ComputeCapability needs = switch (path) {
            case FLASH_SM80 -> ComputeCapability.SM80;
            case FLASH_SM75 -> ComputeCapability.SM75;
            default -> ComputeCapability.NONE;
        };
        if (!capability().atLeast(needs)) {
            throw new KernelUnavailableException(
                    path.id() + " needs compute capability " + needs + " or newer; " + session.label() + " has "
                            + capability(),
                    launch.module(),
                    CudaException.NO_RESULT,
                    "",
                    session.label(),
                    null);
        }
        if (!launch.supports(dt, headDim)) {
            throw new KernelUnavailableException(
                    path.id() + " has no kernel for " + dt + " with head_dim " + headDim,
                    launch.module(),
                    CudaException.NO_RESULT,
                    "",
                    session.label(),
                    null);
        }
        return launch;
    }

    /**
     * The math path: for each chunk of queries, scores into a pooled fp32 buffer
     * (batch, heads, chunk, maxSeqlen), softmax in place, then P·V into O. The three launches of a
     * chunk, and the chunks, are ordered by the stream; the buffer is reused by the next chunk only
     * after the previous chunk's P·V has read it, for the same reason.
     */
    private void math(
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
            int oStride,
            float scale,
            boolean causal,
            int queryChunk) {
        ComputeDtype dt = q.dtype();
        MathAttentionLaunch launch = MathAttentionLaunch.INSTANCE;
        int chunk = Math.min(
                Math.min(queryChunk > 0 ? queryChunk : maxSeqlen, maxSeqlen), MathAttentionLaunch.MAX_QUERY_CHUNK);
        long scoreFloats = MathAttentionLaunch.scoreBytes(batch, heads, chunk, maxSeqlen) / Float.BYTES;
        GpuArray scores = session.alloc(ComputeDtype.FP32, scoreFloats);
        try {
            for (int begin = 0; begin < maxSeqlen; begin += chunk) {
                int count = Math.min(chunk, maxSeqlen - begin);
                session.launch(
                        launch.module(),
                        launch.scores(dt, heads, batch, maxSeqlen, count),
                        new KernelArgs()
                                .ptr(q)
                                .ptr(k)
                                .ptr(scores)
                                .ptr(cuSeqlens)
                                .i32(batch)
                                .i32(heads)
                                .i32(headDim)
                                .i32(qStride)
                                .i32(kvStride)
                                .i32(maxSeqlen)
                                .i32(begin)
                                .i32(count)
                                .f32(scale)
                                .i32(causal ? 1 : 0));
                session.launch(
                        launch.module(),
                        launch.softmax(heads, batch, count),
                        new KernelArgs()
                                .ptr(scores)
                                .ptr(cuSeqlens)
                                .i32(batch)
                                .i32(heads)
                                .i32(maxSeqlen)
                                .i32(begin)
                                .i32(count));
                session.launch(
                        launch.module(),
                        launch.pv(dt, headDim, heads, batch, count),
                        new KernelArgs()
                                .ptr(scores)
                                .ptr(v)
                                .ptr(o)
                                .ptr(cuSeqlens)
                                .i32(batch)
                                .i32(heads)
                                .i32(headDim)
                                .i32(kvStride)
                                .i32(oStride)
                                .i32(maxSeqlen)
                                .i32(begin)
                                .i32(count));
            }
        } finally {
            session.recycle(scores);
        }
    }

    /**
     * {@code out[t] = word[ids[t]] + position[positionIds[t]] + type[typeIds[t]]}, (tokens, hidden).
     * The id arrays are int32 and must be in range of their tables (not checked on the device).
     */
    public void embed(
            GpuArray ids,
            GpuArray typeIds,
            GpuArray positionIds,
            GpuArray word,
            GpuArray position,
            GpuArray type,
            GpuArray out,
            int tokens,
            int hidden) {
        OpChecks.embed(ids, typeIds, positionIds, word, position, type, out, tokens, hidden);
        if (tokens == 0) {
            return;
        }
        session.launch(
                EncoderOpsLaunch.MODULE,
                EncoderOpsLaunch.perRow("embed", out.dtype(), tokens),
                new KernelArgs()
                        .ptr(ids)
                        .ptr(typeIds)
                        .ptr(positionIds)
                        .ptr(word)
                        .ptr(position)
                        .ptr(type)
                        .ptr(out)
                        .i32(tokens)
                        .i32(hidden));
    }

    /**
     * {@code out[r] = table[ids[r]]}, or {@code out[r] += table[ids[r]]} when {@code accumulate}
     * (the sum in fp32, rounded once), for {@code rows} rows of {@code width}. {@code ids} is int32
     * and must be in {@code [0, tableRows)}: the kernel does not check (the caller does, on the host).
     */
    public void gatherRows(
            GpuArray ids, GpuArray table, int tableRows, GpuArray out, int rows, int width, boolean accumulate) {
        OpChecks.gatherRows(ids, table, tableRows, out, rows, width);
        if (rows == 0) {
            return;
        }
        session.launch(
                EncoderOpsLaunch.MODULE,
                EncoderOpsLaunch.perRow("gather_rows", out.dtype(), rows),
                new KernelArgs()
                        .ptr(ids)
                        .ptr(table)
                        .ptr(out)
                        .i32(rows)
                        .i32(width)
                        .i32(accumulate ? 1 : 0));
    }

    /** {@code x = LayerNorm(x + residual) · gamma + beta} per row, in place; residual may be null. */
    public void addLayerNorm(
            GpuArray x, GpuArray residualOrNull, GpuArray gamma, GpuArray beta, float eps, int rows, int hidden) {
        OpChecks.addLayerNorm(x, residualOrNull, gamma, beta, rows, hidden);
        if (rows == 0) {
            return;
        }
        session.launch(
                EncoderOpsLaunch.MODULE,
                EncoderOpsLaunch.perRow("add_layernorm", x.dtype(), rows),
                new KernelArgs()
                        .ptr(x)
                        .ptrOrNull(residualOrNull)
                        .ptr(gamma)
                        .ptr(beta)
                        .f32(eps)
                        .i32(rows)
                        .i32(hidden));
    }

    /** Exact (erf) GELU of the first {@code n} elements, in place. */
    public void gelu(GpuArray x, long n) {
        ComputeDtype dt = OpChecks.floating("gelu", "x", x);
        OpChecks.nonNegative("gelu", "n", n);
        OpChecks.holds("gelu", "x", x, dt, n);
        if (n == 0) {
            return;
        }
        session.launch(
                EncoderOpsLaunch.MODULE,
                EncoderOpsLaunch.elementwise("gelu", dt, n),
                new KernelArgs().ptr(x).i64(n));
    }

    /** {@code x[i] += r[i]} for the first {@code n} elements. */
    public void residualAdd(GpuArray x, GpuArray r, long n) {
        ComputeDtype dt = OpChecks.floating("residualAdd", "x", x);
        OpChecks.nonNegative("residualAdd", "n", n);
        OpChecks.holds("residualAdd", "x", x, dt, n);
        OpChecks.holds("residualAdd", "r", r, dt, n);
        if (n == 0) {
            return;
        }
        session.launch(
                EncoderOpsLaunch.MODULE,
                EncoderOpsLaunch.elementwise("residual_add", dt, n),
                new KernelArgs().ptr(x).ptr(r).i64(n));
    }

    /** Mean of each row's tokens, (batch, hidden) fp32; rows must not be empty. */
    public void poolMean(GpuArray x, GpuArray cuSeqlens, int batch, int hidden, GpuArray outF32) {
        pool("pool_mean", x, cuSeqlens, batch, hidden, outF32);
    }

    /** Each row's first token, (batch, hidden) fp32. */
    public void poolCls(GpuArray x, GpuArray cuSeqlens, int batch, int hidden, GpuArray outF32) {
        pool("pool_cls", x, cuSeqlens, batch, hidden, outF32);
    }

    private void pool(String op, GpuArray x, GpuArray cuSeqlens, int batch, int hidden, GpuArray out) {
        OpChecks.pool(op, x, cuSeqlens, batch, hidden, out);
        session.launch(
                EncoderOpsLaunch.MODULE,
                EncoderOpsLaunch.perRow(op, x.dtype(), batch),
                new KernelArgs().ptr(x).ptr(cuSeqlens).i32(batch).i32(hidden).ptr(out));
    }

    /** {@code x_row /= max(‖x_row‖₂, eps)} for each of {@code rows} fp32 rows of {@code dim}. */
    public void l2Normalize(GpuArray xF32, int rows, int dim, float eps) {
        OpChecks.nonNegative("l2Normalize", "rows", rows);
        OpChecks.positive("l2Normalize", "dim", dim);
        OpChecks.holds("l2Normalize", "x", xF32, ComputeDtype.FP32, (long) rows * dim);
        if (rows == 0) {
            return;
        }
        session.launch(
                EncoderOpsLaunch.MODULE,
                EncoderOpsLaunch.perRow("l2_normalize", ComputeDtype.FP32, rows),
                new KernelArgs().ptr(xF32).i32(rows).i32(dim).f32(eps));
    }

    /** Widens the first {@code n} elements of {@code x} into the fp32 array {@code outF32}. */
    public void toF32(GpuArray x, GpuArray outF32, long n) {
        ComputeDtype dt = OpChecks.floating("toF32", "x", x);
        OpChecks.nonNegative("toF32", "n", n);
        OpChecks.holds("toF32", "x", x, dt, n);
        OpChecks.holds("toF32", "out", outF32, ComputeDtype.FP32, n);
        if (n == 0) {
            return;
        }
        session.launch(
                EncoderOpsLaunch.MODULE,
                EncoderOpsLaunch.elementwise("to_f32", dt, n),
                new KernelArgs().ptr(x).ptr(outF32).i64(n));
    }

    /** Narrows the first {@code n} fp32 elements into {@code out}'s dtype (round to nearest even). */
    public void fromF32(GpuArray xF32, GpuArray out, long n) {
        ComputeDtype dt = OpChecks.floating("fromF32", "out", out);
        OpChecks.nonNegative("fromF32", "n", n);
        OpChecks.holds("fromF32", "x", xF32, ComputeDtype.FP32, n);
        OpChecks.holds("fromF32", "out", out, dt, n);
        if (n == 0) {
            return;
        }
        session.launch(
                EncoderOpsLaunch.MODULE,
                EncoderOpsLaunch.elementwise("from_f32", dt, n),
                new KernelArgs().ptr(xF32).ptr(out).i64(n));
    }

    /**
     * Adds the number of NaN and infinite values among the first {@code n} elements of {@code x}
     * to the int32 counter {@code counter} (one element, for example a slice of a larger array of
     * counters). Enqueued only: nothing waits, the count is read by a later download.
     */
    public void addNonFiniteCount(GpuArray x, long n, GpuArray counter) {
        ComputeDtype dt = OpChecks.floating("addNonFiniteCount", "x", x);
        OpChecks.nonNegative("addNonFiniteCount", "n", n);
        OpChecks.holds("addNonFiniteCount", "x", x, dt, n);
        OpChecks.holds("addNonFiniteCount", "counter", counter, null, 1);
        if (n == 0) {
            return;
        }
        session.launch(
                EncoderOpsLaunch.MODULE,
                EncoderOpsLaunch.elementwise("count_nonfinite", dt, n),
                new KernelArgs().ptr(x).i64(n).ptr(counter));
    }

    /** How many of the first {@code n} elements are NaN or infinite. Waits for the session's work. */
    public long countNonFinite(GpuArray x, long n) {
        ComputeDtype dt = OpChecks.floating("countNonFinite", "x", x);
        OpChecks.nonNegative("countNonFinite", "n", n);
        OpChecks.holds("countNonFinite", "x", x, dt, n);
        if (n == 0) {
            return 0;
        }
        GpuArray count = session.allocInts(1);
        try {
            session.zero(count);
            session.launch(
                    EncoderOpsLaunch.MODULE,
                    EncoderOpsLaunch.elementwise("count_nonfinite", dt, n),
                    new KernelArgs().ptr(x).i64(n).ptr(count));
            return Integer.toUnsignedLong(session.downloadInts(count)[0]);
        } finally {
            session.recycle(count);
        }
    }
}

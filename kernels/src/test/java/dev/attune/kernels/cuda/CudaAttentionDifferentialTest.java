package dev.attune.kernels.cuda;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.attune.kernels.attention.AttentionProblem;
import dev.attune.kernels.attention.CpuMathAttention;
import dev.attune.kernels.cpu.CpuThreads;
import dev.attune.kernels.cuda.launch.MemEfficientLaunch;
import dev.attune.kernels.device.ComputeCapability;
import dev.attune.kernels.device.DeviceInfo;
import dev.attune.kernels.select.AttentionPath;
import dev.attune.kernels.select.ComputeDtype;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * Every GPU attention path the device runs, against {@code cpu-math} on the same inputs (rounded
 * to the path's dtype on the host first, so only the GPU's arithmetic differs): head dimensions
 * from 32 to 256 (including ones that are not multiples of 32), ragged rows (a row of length 1,
 * lengths that are not multiples of the tiles), causal and not, Q/K/V fused in one buffer and as
 * separate tensors. Run with {@code -Dattune.test.excludedGroups= -Dgroups=gpu}.
 */
@Tag("gpu")
class CudaAttentionDifferentialTest {

    private static final int[] HEAD_DIMS = {32, 40, 64, 72, 80, 96, 128, 160, 192, 256};
    private static final int[] LENGTHS = {1, 2, 7, 15, 16, 17, 33, 63, 64, 65, 127, 129, 200};

    private static CudaBackend backend;
    private static CpuThreads threads;

    private record Variant(AttentionPath path, ComputeDtype dtype) {}

    @BeforeAll
    static void open() {
        backend = CudaBackend.open(GpuFixture.firstGpu());
        threads = new CpuThreads(Math.max(1, Runtime.getRuntime().availableProcessors()));
    }

    @AfterAll
    static void close() {
        if (threads != null) {
            threads.close();
        }
        if (backend != null) {
            backend.close();
        }
    }

    /** The paths and dtypes this device runs. */
    private static List<Variant> variants(DeviceInfo d) {
        List<Variant> v = new ArrayList<>();
        if (d.capability().atLeast(ComputeCapability.SM80)) {
            v.add(new Variant(AttentionPath.FLASH_SM80, ComputeDtype.FP16));
            v.add(new Variant(AttentionPath.FLASH_SM80, ComputeDtype.BF16));
        }
        if (d.capability().atLeast(ComputeCapability.SM75)) {
            v.add(new Variant(AttentionPath.FLASH_SM75, ComputeDtype.FP16));
        }
        for (ComputeDtype dt : ComputeDtype.values()) {
            v.add(new Variant(AttentionPath.MEM_EFFICIENT, dt));
        }
        for (ComputeDtype dt : ComputeDtype.values()) {
            v.add(new Variant(AttentionPath.MATH, dt));
        }
        return v;
    }

    private static double atol(ComputeDtype dt) {
        return switch (dt) {
            case FP32 -> 2e-4;
            case FP16 -> 4e-3;
            case BF16 -> 3e-2;
        };
    }

    private static double rtol(ComputeDtype dt) {
        return switch (dt) {
            case FP32 -> 1e-4;
            case FP16 -> 4e-3;
            case BF16 -> 2e-2;
        };
    }

    @Test
    void everyPathTheDeviceRunsMatchesCpuMath() {
        DeviceInfo device = backend.device();
        Random rnd = new Random(20240607);
        List<String> failures = new ArrayList<>();
        int cases = 0;
        for (Variant variant : variants(device)) {
            for (int d : HEAD_DIMS) {
                if (variant.path() == AttentionPath.MEM_EFFICIENT
                        && MemEfficientLaunch.sharedBytes(d) > device.sharedMemoryPerBlock()) {
                    continue; // the selector never asks for it here; the backend refuses it (tested below)
                }
                for (boolean causal : new boolean[] {false, true}) {
                    for (boolean fused : new boolean[] {true, false}) {
                        String failure = runCase(variant, d, causal, fused, rnd);
                        cases++;
                        if (failure != null) {
                            failures.add(failure);
                        }
                    }
                }
            }
        }
        assertTrue(cases > 0);
        assertTrue(
                failures.isEmpty(),
                failures.size() + " of " + cases + " cases differ on " + device.label() + ":\n"
                        + String.join("\n", failures.subList(0, Math.min(40, failures.size()))));
    }

    /** Runs one case; a description of the first mismatch, or null. */
    private static String runCase(Variant variant, int d, boolean causal, boolean fused, Random rnd) {
        ComputeDtype dt = variant.dtype();
        int heads = 1 + rnd.nextInt(3);
        int batch = 1 + rnd.nextInt(3);
        int[] lengths = new int[batch + 1];
        lengths[0] = 1; // a row of one token in every case
        for (int b = 1; b <= batch; b++) {
            lengths[b] = LENGTHS[rnd.nextInt(LENGTHS.length)];
        }
        shuffle(lengths, rnd);
        batch = lengths.length;
        int[] cu = GpuFixture.cuSeqlens(lengths);
        int tokens = cu[batch];
        int maxLen = Arrays.stream(lengths).max().orElse(0);
        int w = heads * d;
        float scale = (float) (1.0 / Math.sqrt(d));
        int queryChunk = variant.path() == AttentionPath.MATH && rnd.nextBoolean() ? 1 + rnd.nextInt(40) : 0;

        AttentionProblem p;
        float[] hq;
        float[] hk;
        float[] hv;
        if (fused) {
            p = new AttentionProblem(cu, heads, d, causal, scale, 3 * w, 0, w, 2 * w);
            hq = GpuFixture.random(rnd, tokens * 3 * w, 1f, dt);
            hk = hq;
            hv = hq;
        } else {
            p = new AttentionProblem(cu, heads, d, causal, scale, w, 0, 0, 0);
            hq = GpuFixture.random(rnd, tokens * w, 1f, dt);
            hk = GpuFixture.random(rnd, tokens * w, 1f, dt);
            hv = GpuFixture.random(rnd, tokens * w, 1f, dt);
        }
        float[] want = new float[tokens * w];
        new CpuMathAttention().forward(p, hq, hk, hv, want, threads);

        float[] got;
        try (CudaSession s = backend.session()) {
            GpuArray cuDev = s.upload(cu);
            GpuArray q;
            GpuArray k;
            GpuArray v;
            int qStride;
            int kvStride;
            if (fused) {
                GpuArray qkv = s.upload(hq, 0, hq.length, dt);
                q = qkv;
                k = qkv.slice(w, qkv.elements() - w);
                v = qkv.slice(2L * w, qkv.elements() - 2L * w);
                qStride = 3 * w;
                kvStride = 3 * w;
            } else {
                q = s.upload(hq, 0, hq.length, dt);
                k = s.upload(hk, 0, hk.length, dt);
                v = s.upload(hv, 0, hv.length, dt);
                qStride = w;
                kvStride = w;
            }
            GpuArray o = s.alloc(dt, (long) tokens * w);
            s.ops()
                    .attention(
                            variant.path(),
                            q,
                            k,
                            v,
                            o,
                            cuDev,
                            batch,
                            maxLen,
                            heads,
                            d,
                            qStride,
                            kvStride,
                            w,
                            scale,
                            causal,
                            queryChunk);
            got = s.download(o);
        }
        String label = variant.path().id() + " " + dt + " d=" + d + " heads=" + heads + " lengths="
                + Arrays.toString(lengths) + (causal ? " causal" : "") + (fused ? " fused" : " separate")
                + (queryChunk > 0 ? " chunk=" + queryChunk : "");
        for (int i = 0; i < want.length; i++) {
            double err = Math.abs(got[i] - want[i]);
            if (!(err <= atol(dt) + rtol(dt) * Math.abs(want[i]))) {
                int token = i / w;
                return label + ": token " + token + " head " + (i % w) / d + " dim " + i % d + ": got " + got[i]
                        + ", want " + want[i];
            }
        }
        return null;
    }

    private static void shuffle(int[] a, Random rnd) {
        for (int i = a.length - 1; i > 0; i--) {
            int j = rnd.nextInt(i + 1);
            int t = a[i];
            a[i] = a[j];
            a[j] = t;
        }
    }

    @Test
    void pathsTheDeviceCannotRunAreUnavailableNotWrong() {
        DeviceInfo device = backend.device();
        try (CudaSession s = backend.session()) {
            GpuArray x = s.alloc(ComputeDtype.FP32, 3 * 64);
            GpuArray o = s.alloc(ComputeDtype.FP32, 64);
            GpuArray cu = s.upload(new int[] {0, 1});
            // flash paths have no fp32 kernels
            KernelUnavailableException e = org.junit.jupiter.api.Assertions.assertThrows(
                    KernelUnavailableException.class,
                    () -> s.ops()
                            .attention(
                                    AttentionPath.FLASH_SM75,
                                    x,
                                    x,
                                    x,
                                    o,
                                    cu,
                                    1,
                                    1,
                                    1,
                                    64,
                                    192,
                                    192,
                                    64,
                                    0.125f,
                                    false,
                                    0));
            if (device.capability().atLeast(ComputeCapability.SM75)) {
                assertTrue(e.getMessage().contains("fp32"), e.getMessage());
            }
            // head_dim not a multiple of 8
            GpuArray h = s.alloc(ComputeDtype.FP16, 3 * 60);
            org.junit.jupiter.api.Assertions.assertThrows(
                    KernelUnavailableException.class,
                    () -> s.ops()
                            .attention(
                                    AttentionPath.FLASH_SM75,
                                    h,
                                    h,
                                    h,
                                    h,
                                    cu,
                                    1,
                                    1,
                                    1,
                                    60,
                                    180,
                                    180,
                                    60,
                                    0.125f,
                                    false,
                                    0));
            if (!device.capability().atLeast(ComputeCapability.SM80)) {
                org.junit.jupiter.api.Assertions.assertThrows(
                        KernelUnavailableException.class,
                        () -> s.ops()
                                .attention(
                                        AttentionPath.FLASH_SM80,
                                        h,
                                        h,
                                        h,
                                        h,
                                        cu,
                                        1,
                                        1,
                                        1,
                                        64,
                                        192,
                                        192,
                                        64,
                                        0.125f,
                                        false,
                                        0));
            }
            s.synchronize();
        }
        assertFalse(backend.contextLost());
    }
}

package dev.attune.kernels.cuda.launch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.attune.kernels.select.ComputeDtype;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Launch shapes of the four attention paths, pure arithmetic (no GPU): kernel names as the PTX
 * modules export them, grids per the kernel ABI, shared memory within the limits of the GPUs each
 * path is shipped for, and clear refusals of unsupported dtypes and head dimensions. The flash
 * tile sizes may be retuned, so their figures are checked as invariants, not exact bytes.
 */
class AttentionLaunchShapesTest {

    /** Shared memory a block may opt in to: sm_60 (no opt-in), sm_75 (T4), sm_86 (A10, RTX 30). */
    private static final int SM60_SHARED = 48 * 1024;

    private static final int SM75_SHARED = 64 * 1024;
    private static final int SM86_SHARED = 99 * 1024;

    private static final List<AttentionLaunch> FUSED =
            List.of(FlashSm80Launch.INSTANCE, FlashSm75Launch.INSTANCE, MemEfficientLaunch.INSTANCE);

    @Test
    void fusedPathsShareTheAttentionGrid() {
        for (AttentionLaunch launch : FUSED) {
            for (int maxSeqlen : new int[] {1, 63, 64, 65, 512, 4096}) {
                LaunchShape s = launch.shape(ComputeDtype.FP16, 64, 12, 7, maxSeqlen);
                int blockM = blockM(launch);
                assertEquals((maxSeqlen + blockM - 1) / blockM, s.gridX(), launch.module() + " query tiles");
                assertEquals(12, s.gridY(), launch.module() + " heads on y");
                assertEquals(7, s.gridZ(), launch.module() + " rows on z");
                assertEquals(128, s.block(), launch.module() + " threads");
            }
        }
    }

    @Test
    void modulesNameTheirPtxResources() {
        assertEquals("flash_sm80", FlashSm80Launch.INSTANCE.module());
        assertEquals("flash_sm75", FlashSm75Launch.INSTANCE.module());
        assertEquals("mem_efficient", MemEfficientLaunch.INSTANCE.module());
        assertEquals("math_attention", MathAttentionLaunch.INSTANCE.module());
    }

    // ---- flash-sm80

    @Test
    void flashSm80NamesThePaddedHeadDimension() {
        assertEquals(
                "flash_sm80_fwd_f16_d64",
                FlashSm80Launch.INSTANCE.shape(ComputeDtype.FP16, 64, 1, 1, 1).kernel());
        assertEquals(
                "flash_sm80_fwd_bf16_d128",
                FlashSm80Launch.INSTANCE.shape(ComputeDtype.BF16, 128, 1, 1, 1).kernel());
        assertEquals(
                "flash_sm80_fwd_f16_d64",
                FlashSm80Launch.INSTANCE.shape(ComputeDtype.FP16, 40, 1, 1, 1).kernel());
        assertEquals(
                "flash_sm80_fwd_bf16_d32",
                FlashSm80Launch.INSTANCE.shape(ComputeDtype.BF16, 8, 1, 1, 1).kernel());
        assertEquals(
                "flash_sm80_fwd_f16_d256",
                FlashSm80Launch.INSTANCE.shape(ComputeDtype.FP16, 248, 1, 1, 1).kernel());
    }

    @Test
    void flashSm80FitsAnSm86BlockAtEveryHeadDimension() {
        for (ComputeDtype dt : new ComputeDtype[] {ComputeDtype.FP16, ComputeDtype.BF16}) {
            for (int hd = 8; hd <= 256; hd += 8) {
                LaunchShape s = FlashSm80Launch.INSTANCE.shape(dt, hd, 1, 1, 1);
                assertTrue(
                        s.sharedBytes() > 0 && s.sharedBytes() <= SM86_SHARED,
                        "flash-sm80 " + dt + " d" + hd + " needs " + s.sharedBytes() + " bytes");
                String suffix = "_d" + FlashSm80Launch.paddedHeadDim(hd);
                assertTrue(s.kernel().endsWith(suffix), s.kernel());
                assertTrue(FlashSm80Launch.paddedHeadDim(hd) % 32 == 0 && FlashSm80Launch.paddedHeadDim(hd) >= hd);
            }
        }
    }

    @Test
    void flashSm80RefusesFp32AndOddHeadDimensions() {
        assertFalse(FlashSm80Launch.INSTANCE.supports(ComputeDtype.FP32, 64));
        assertFalse(FlashSm80Launch.INSTANCE.supports(ComputeDtype.FP16, 60));
        assertFalse(FlashSm80Launch.INSTANCE.supports(ComputeDtype.FP16, 264));
        assertFalse(FlashSm80Launch.INSTANCE.supports(ComputeDtype.BF16, 0));
        IllegalArgumentException fp32 = assertThrows(
                IllegalArgumentException.class, () -> FlashSm80Launch.INSTANCE.shape(ComputeDtype.FP32, 64, 1, 1, 1));
        assertMentions(fp32, "flash-sm80", "fp32", "64");
        IllegalArgumentException odd = assertThrows(
                IllegalArgumentException.class, () -> FlashSm80Launch.INSTANCE.shape(ComputeDtype.FP16, 60, 1, 1, 1));
        assertMentions(odd, "flash-sm80", "head_dim", "60");
        IllegalArgumentException big = assertThrows(
                IllegalArgumentException.class, () -> FlashSm80Launch.INSTANCE.shape(ComputeDtype.BF16, 264, 1, 1, 1));
        assertMentions(big, "flash-sm80", "head_dim", "264");
    }

    // ---- flash-sm75

    @Test
    void flashSm75IsFp16OnlyAndNamesThePaddedHeadDimension() {
        assertEquals(
                "flash_sm75_fwd_f16_d64",
                FlashSm75Launch.INSTANCE.shape(ComputeDtype.FP16, 64, 1, 1, 1).kernel());
        assertEquals(
                "flash_sm75_fwd_f16_d96",
                FlashSm75Launch.INSTANCE.shape(ComputeDtype.FP16, 80, 1, 1, 1).kernel());
        assertFalse(FlashSm75Launch.INSTANCE.supports(ComputeDtype.BF16, 64));
        assertFalse(FlashSm75Launch.INSTANCE.supports(ComputeDtype.FP32, 64));
        IllegalArgumentException bf16 = assertThrows(
                IllegalArgumentException.class, () -> FlashSm75Launch.INSTANCE.shape(ComputeDtype.BF16, 64, 1, 1, 1));
        assertMentions(bf16, "flash-sm75", "bf16", "fp16");
        IllegalArgumentException odd = assertThrows(
                IllegalArgumentException.class, () -> FlashSm75Launch.INSTANCE.shape(ComputeDtype.FP16, 36, 1, 1, 1));
        assertMentions(odd, "flash-sm75", "head_dim", "36");
    }

    @Test
    void flashSm75FitsA64KbT4BlockUpToHeadDimension256() {
        for (int hd = 8; hd <= 256; hd += 8) {
            LaunchShape s = FlashSm75Launch.INSTANCE.shape(ComputeDtype.FP16, hd, 1, 1, 1);
            assertTrue(
                    s.sharedBytes() > 0 && s.sharedBytes() <= SM75_SHARED,
                    "flash-sm75 d" + hd + " needs " + s.sharedBytes() + " bytes");
        }
        assertTrue(FlashSm75Launch.SM75_SHARED_LIMIT <= SM75_SHARED);
    }

    // ---- mem-efficient

    @Test
    void memEfficientNamesEveryDtype() {
        assertEquals(
                "mem_efficient_fwd_f32",
                MemEfficientLaunch.INSTANCE
                        .shape(ComputeDtype.FP32, 64, 1, 1, 1)
                        .kernel());
        assertEquals(
                "mem_efficient_fwd_f16",
                MemEfficientLaunch.INSTANCE
                        .shape(ComputeDtype.FP16, 64, 1, 1, 1)
                        .kernel());
        assertEquals(
                "mem_efficient_fwd_bf16",
                MemEfficientLaunch.INSTANCE
                        .shape(ComputeDtype.BF16, 64, 1, 1, 1)
                        .kernel());
    }

    @Test
    void memEfficientCoversAnyPositiveHeadDimension() {
        for (ComputeDtype dt : ComputeDtype.values()) {
            for (int hd : new int[] {1, 3, 7, 33, 64, 72, 100, 129, 255, 256, 512, 1000}) {
                assertTrue(MemEfficientLaunch.INSTANCE.supports(dt, hd), dt + " d" + hd);
                LaunchShape s = MemEfficientLaunch.INSTANCE.shape(dt, hd, 4, 2, 100);
                assertEquals(7, s.gridX());
                assertEquals(MemEfficientLaunch.sharedBytes(hd), s.sharedBytes());
            }
        }
        assertFalse(MemEfficientLaunch.INSTANCE.supports(ComputeDtype.FP32, 0));
        IllegalArgumentException zero = assertThrows(
                IllegalArgumentException.class, () -> MemEfficientLaunch.INSTANCE.shape(ComputeDtype.FP16, 0, 1, 1, 1));
        assertMentions(zero, "mem-efficient", "head_dim", "0");
        assertThrows(IllegalArgumentException.class, () -> MemEfficientLaunch.sharedBytes(-1));
    }

    /** The layout of mem_efficient.cu, float by float: q, k (odd row stride), o, v, p, alpha, inv_l. */
    @Test
    void memEfficientSharedMemoryMatchesTheKernelLayout() {
        // head_dim 64: BLOCK_N 32, stride 65: (16 + 32) * 65 + (16 + 32) * 64 + 16 * 32 + 2 * 16 floats
        assertEquals(4 * (48 * 65 + 48 * 64 + 512 + 32), MemEfficientLaunch.sharedBytes(64));
        // head_dim 32: BLOCK_N 32, stride 33
        assertEquals(4 * (48 * 33 + 48 * 32 + 512 + 32), MemEfficientLaunch.sharedBytes(32));
        // head_dim 65 (odd, no padding): BLOCK_N 16
        assertEquals(4 * (32 * 65 + 32 * 65 + 256 + 32), MemEfficientLaunch.sharedBytes(65));
        // head_dim 128: BLOCK_N 16, stride 129
        assertEquals(4 * (32 * 129 + 32 * 128 + 256 + 32), MemEfficientLaunch.sharedBytes(128));
        // head_dim 256: BLOCK_N 8, stride 257
        assertEquals(4 * (24 * 257 + 24 * 256 + 128 + 32), MemEfficientLaunch.sharedBytes(256));
        assertEquals(32, MemEfficientLaunch.blockN(64));
        assertEquals(16, MemEfficientLaunch.blockN(65));
        assertEquals(16, MemEfficientLaunch.blockN(128));
        assertEquals(8, MemEfficientLaunch.blockN(129));
        for (int hd = 1; hd <= 1024; hd++) {
            assertEquals(1, MemEfficientLaunch.qkStride(hd) % 2, "odd Q/K stride at d" + hd);
            // The kernel reads p as float4s: p starts (BLOCK_M + BLOCK_N) * (stride + head_dim)
            // floats in, which must stay a multiple of 4.
            int n = MemEfficientLaunch.blockN(hd);
            assertEquals(0, (MemEfficientLaunch.BLOCK_M + n) * (MemEfficientLaunch.qkStride(hd) + hd) % 4);
            assertEquals(0, n % 4);
        }
    }

    @Test
    void memEfficientFitsEveryGpuUpToHeadDimension252AndT4To337() {
        for (int hd = 1; hd <= 252; hd++) {
            assertTrue(MemEfficientLaunch.sharedBytes(hd) <= SM60_SHARED, "d" + hd + " within 48 KB");
        }
        assertTrue(MemEfficientLaunch.sharedBytes(253) > SM60_SHARED);
        for (int hd = 1; hd <= 337; hd++) {
            assertTrue(MemEfficientLaunch.sharedBytes(hd) <= SM75_SHARED, "d" + hd + " within 64 KB");
        }
        assertTrue(MemEfficientLaunch.sharedBytes(338) > SM75_SHARED);
        assertThrows(ArithmeticException.class, () -> MemEfficientLaunch.sharedBytes(Integer.MAX_VALUE));
    }

    // ---- math

    @Test
    void mathKernelsAndGrids() {
        MathAttentionLaunch math = MathAttentionLaunch.INSTANCE;
        LaunchShape scores = math.scores(ComputeDtype.BF16, 12, 3, 300, 40);
        assertEquals(new LaunchShape("math_scores_bf16", 36, 40, 3, 128, 0), scores);
        LaunchShape softmax = math.softmax(12, 3, 40);
        assertEquals(new LaunchShape("math_softmax", 36, 40, 1, 128, 0), softmax);
        LaunchShape pv = math.pv(ComputeDtype.FP32, 64, 12, 3, 40);
        assertEquals(new LaunchShape("math_pv_f32", 36, 40, 1, 128, 0), pv);
        assertEquals(
                "math_scores_f16", math.scores(ComputeDtype.FP16, 1, 1, 1, 1).kernel());
        assertEquals("math_pv_bf16", math.pv(ComputeDtype.BF16, 129, 1, 1, 1).kernel());
        assertEquals(2, math.pv(ComputeDtype.BF16, 129, 1, 1, 1).gridZ());
        assertEquals(1, math.scores(ComputeDtype.FP32, 1, 1, 128, 1).gridZ());
        assertEquals(2, math.scores(ComputeDtype.FP32, 1, 1, 129, 1).gridZ());
    }

    @Test
    void mathChunksAreBoundedByGridY() {
        MathAttentionLaunch math = MathAttentionLaunch.INSTANCE;
        assertEquals(
                65535, math.softmax(1, 1, MathAttentionLaunch.MAX_QUERY_CHUNK).gridY());
        IllegalArgumentException big =
                assertThrows(IllegalArgumentException.class, () -> math.scores(ComputeDtype.FP16, 1, 1, 70000, 65536));
        assertMentions(big, "65535", "65536");
        assertThrows(IllegalArgumentException.class, () -> math.pv(ComputeDtype.FP16, 64, 1, 1, 0));
        assertThrows(ArithmeticException.class, () -> math.softmax(1 << 16, 1 << 16, 1));
    }

    @Test
    void mathScoreBufferIsCountedInLongs() {
        assertEquals(4L * 64 * 16 * 4096 * 4096, MathAttentionLaunch.scoreBytes(64, 16, 4096, 4096));
        assertEquals(4L * 2 * 3 * 5 * 7, MathAttentionLaunch.scoreBytes(2, 3, 5, 7));
    }

    private static int blockM(AttentionLaunch launch) {
        if (launch instanceof FlashSm80Launch) {
            return FlashSm80Launch.BLOCK_M;
        }
        if (launch instanceof FlashSm75Launch) {
            return FlashSm75Launch.BLOCK_M;
        }
        return MemEfficientLaunch.BLOCK_M;
    }

    private static void assertMentions(Exception e, String... parts) {
        for (String part : parts) {
            assertTrue(e.getMessage().contains(part), "'" + e.getMessage() + "' should mention " + part);
        }
    }
}

package dev.attune.kernels.cuda.launch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.attune.kernels.device.ComputeCapability;
import dev.attune.kernels.select.ComputeDtype;
import org.junit.jupiter.api.Test;

class GemmAndOpsLaunchTest {

    private static final int DEFAULT_DYNAMIC_SHARED_LIMIT = 48 * 1024;

    @Test
    void sm80GemmCoversTheOutputWithThreeStagesOfSharedMemory() {
        // MiniLM FFN up-projection: 1000 tokens x 384 -> 1536.
        LaunchShape s = GemmLaunch.shape(GemmVariant.SM80, ComputeDtype.BF16, 1000, 1536, 384);
        assertEquals("gemm_sm80_bf16", s.kernel());
        assertEquals(12, s.gridX());
        assertEquals(8, s.gridY());
        assertEquals(1, s.gridZ());
        assertEquals(256, s.block());
        assertEquals(3 * (128 + 128) * 32 * 2, s.sharedBytes());
        assertEquals(
                "gemm_sm80_f16",
                GemmLaunch.shape(GemmVariant.SM80, ComputeDtype.FP16, 1, 8, 8).kernel());
    }

    @Test
    void sm75GemmDoubleBuffersAndStagesTheOutputTileInTheSameMemory() {
        LaunchShape s = GemmLaunch.shape(GemmVariant.SM75, ComputeDtype.FP16, 129, 136, 40);
        assertEquals("gemm_sm75_f16", s.kernel());
        assertEquals(2, s.gridX());
        assertEquals(2, s.gridY());
        assertEquals(256, s.block());
        assertEquals(2 * (128 + 128) * 32 * 2, s.sharedBytes());
        assertEquals(128 * 128 * 2, s.sharedBytes(), "the 128 x 128 fp16 output tile reuses exactly the two stages");
    }

    @Test
    void simtGemmTakesAnyShapeWithPaddedFp32Tiles() {
        LaunchShape s = GemmLaunch.shape(GemmVariant.SIMT, ComputeDtype.FP32, 65, 3, 7);
        assertEquals("gemm_simt_f32", s.kernel());
        assertEquals(1, s.gridX());
        assertEquals(2, s.gridY());
        assertEquals(256, s.block());
        assertEquals(2 * (64 + 4 + 64 + 4) * 16 * 4, s.sharedBytes());
        for (ComputeDtype dt : ComputeDtype.values()) {
            assertEquals(
                    s.sharedBytes(),
                    GemmLaunch.shape(GemmVariant.SIMT, dt, 65, 3, 7).sharedBytes(),
                    "SIMT holds every dtype as fp32 in shared memory");
            assertEquals(
                    "gemm_simt_" + LaunchShape.suffix(dt),
                    GemmLaunch.shape(GemmVariant.SIMT, dt, 1, 1, 1).kernel());
        }
    }

    @Test
    void everyGemmFitsTheDefaultDynamicSharedMemory() {
        for (GemmVariant v : GemmVariant.values()) {
            assertTrue(GemmLaunch.tile(v).sharedBytes() <= DEFAULT_DYNAMIC_SHARED_LIMIT, v.name());
            assertTrue(GemmLaunch.tile(v).sharedBytes() >= GemmLaunch.tile(v).pipelineBytes(), v.name());
        }
    }

    @Test
    void tensorCoreVariantsRejectShapesThatBreakSixteenByteRows() {
        assertTrue(GemmLaunch.supports(GemmVariant.SM80, ComputeDtype.FP16, 384, 1536));
        assertFalse(GemmLaunch.supports(GemmVariant.SM80, ComputeDtype.FP16, 384, 1534));
        assertFalse(GemmLaunch.supports(GemmVariant.SM75, ComputeDtype.FP16, 30, 64));
        assertTrue(GemmLaunch.supports(GemmVariant.SIMT, ComputeDtype.FP16, 30, 63));

        IllegalArgumentException e = assertThrows(
                IllegalArgumentException.class,
                () -> GemmLaunch.shape(GemmVariant.SM80, ComputeDtype.FP16, 100, 30, 64));
        assertTrue(e.getMessage().contains("multiples of 8"), e.getMessage());
        e = assertThrows(
                IllegalArgumentException.class,
                () -> GemmLaunch.shape(GemmVariant.SM75, ComputeDtype.FP16, 100, 64, 12));
        assertTrue(e.getMessage().contains("gemm_sm75") && e.getMessage().contains("multiples of 8"), e.getMessage());
    }

    @Test
    void unsupportedDtypesNameTheVariantAndWhatItTakes() {
        IllegalArgumentException e = assertThrows(
                IllegalArgumentException.class,
                () -> GemmLaunch.shape(GemmVariant.SM75, ComputeDtype.BF16, 128, 128, 128));
        assertTrue(
                e.getMessage().contains("gemm_sm75")
                        && e.getMessage().contains("bf16")
                        && e.getMessage().contains("fp16 only"),
                e.getMessage());
        e = assertThrows(
                IllegalArgumentException.class,
                () -> GemmLaunch.shape(GemmVariant.SM80, ComputeDtype.FP32, 128, 128, 128));
        assertTrue(e.getMessage().contains("gemm_sm80") && e.getMessage().contains("fp32"), e.getMessage());
    }

    @Test
    void gemmRejectsEmptyAndTooTallShapes() {
        assertThrows(
                IllegalArgumentException.class, () -> GemmLaunch.shape(GemmVariant.SIMT, ComputeDtype.FP32, 0, 8, 8));
        assertThrows(
                IllegalArgumentException.class, () -> GemmLaunch.shape(GemmVariant.SM80, ComputeDtype.FP16, 8, 8, 0));
        assertEquals(
                65535,
                GemmLaunch.shape(GemmVariant.SM80, ComputeDtype.FP16, 65535 * 128, 8, 8)
                        .gridY());
        IllegalArgumentException e = assertThrows(
                IllegalArgumentException.class,
                () -> GemmLaunch.shape(GemmVariant.SM80, ComputeDtype.FP16, 65535 * 128 + 1, 8, 8));
        assertTrue(e.getMessage().contains("split the rows"), e.getMessage());
    }

    @Test
    void bestVariantFollowsCapabilityAndDtype() {
        ComputeCapability sm86 = new ComputeCapability(8, 6);
        assertEquals(GemmVariant.SM80, GemmVariant.best(ComputeCapability.SM90, ComputeDtype.BF16));
        assertEquals(GemmVariant.SM80, GemmVariant.best(sm86, ComputeDtype.FP16));
        assertEquals(GemmVariant.SIMT, GemmVariant.best(ComputeCapability.SM90, ComputeDtype.FP32));
        assertEquals(GemmVariant.SM75, GemmVariant.best(ComputeCapability.SM75, ComputeDtype.FP16));
        assertEquals(GemmVariant.SIMT, GemmVariant.best(ComputeCapability.SM75, ComputeDtype.BF16));
        assertEquals(GemmVariant.SIMT, GemmVariant.best(ComputeCapability.SM70, ComputeDtype.FP16));
        assertEquals(GemmVariant.SIMT, GemmVariant.best(ComputeCapability.SM60, ComputeDtype.FP32));
        IllegalArgumentException e = assertThrows(
                IllegalArgumentException.class, () -> GemmVariant.best(new ComputeCapability(5, 2), ComputeDtype.FP32));
        assertTrue(e.getMessage().contains("5.2") && e.getMessage().contains("sm_60"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> GemmVariant.best(ComputeCapability.NONE, ComputeDtype.FP32));
    }

    @Test
    void bestVariantAlwaysHasAKernelForTheDtype() {
        ComputeCapability[] ccs = {
            ComputeCapability.SM60,
            ComputeCapability.SM70,
            ComputeCapability.SM75,
            ComputeCapability.SM80,
            new ComputeCapability(8, 9),
            ComputeCapability.SM90
        };
        for (ComputeCapability cc : ccs) {
            for (ComputeDtype dt : ComputeDtype.values()) {
                GemmVariant v = GemmVariant.best(cc, dt);
                assertTrue(v.supports(dt), cc + " " + dt);
                assertEquals(
                        v.module() + "_" + LaunchShape.suffix(dt),
                        GemmLaunch.shape(v, dt, 33, 64, 64).kernel());
            }
        }
    }

    @Test
    void perRowKernelsGetOneBlockOf128ThreadsPerRow() {
        LaunchShape s = EncoderOpsLaunch.perRow("add_layernorm", ComputeDtype.FP16, 4096);
        assertEquals("add_layernorm_f16", s.kernel());
        assertEquals(4096, s.gridX());
        assertEquals(128, s.block());
        assertEquals(0, s.sharedBytes());
        assertEquals(
                "embed_bf16",
                EncoderOpsLaunch.perRow("embed", ComputeDtype.BF16, 7).kernel());
        assertEquals(
                "pool_mean_f32",
                EncoderOpsLaunch.perRow("pool_mean", ComputeDtype.FP32, 2).kernel());
        assertEquals(
                "pool_cls_f16",
                EncoderOpsLaunch.perRow("pool_cls", ComputeDtype.FP16, 2).kernel());
        assertEquals(
                "l2_normalize_f32",
                EncoderOpsLaunch.perRow("l2_normalize", ComputeDtype.FP32, 2).kernel());
        assertEquals(
                1, EncoderOpsLaunch.perRow("pool_mean", ComputeDtype.FP32, 0).gridX(), "an empty batch still launches");
    }

    @Test
    void perRowRejectsUnknownOpsAndL2NormalizeOutsideFp32() {
        IllegalArgumentException e = assertThrows(
                IllegalArgumentException.class, () -> EncoderOpsLaunch.perRow("l2_normalize", ComputeDtype.FP16, 2));
        assertTrue(e.getMessage().contains("fp32 only"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> EncoderOpsLaunch.perRow("gelu", ComputeDtype.FP16, 2));
        assertTrue(
                e.getMessage().contains("not a per-row kernel")
                        && e.getMessage().contains("add_layernorm"),
                e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> EncoderOpsLaunch.perRow("embed", ComputeDtype.FP16, -1));
    }

    @Test
    void elementwiseKernelsUseAGridStrideLoopWithACappedGrid() {
        LaunchShape s = EncoderOpsLaunch.elementwise("gelu", ComputeDtype.BF16, 1000);
        assertEquals("gelu_bf16", s.kernel());
        assertEquals(4, s.gridX());
        assertEquals(256, s.block());
        assertEquals(0, s.sharedBytes());
        assertEquals(
                65535,
                EncoderOpsLaunch.elementwise("to_f32", ComputeDtype.FP16, 10_000_000_000L)
                        .gridX());
        assertEquals(
                1,
                EncoderOpsLaunch.elementwise("count_nonfinite", ComputeDtype.FP32, 0)
                        .gridX());
        assertEquals(
                "from_f32_f16",
                EncoderOpsLaunch.elementwise("from_f32", ComputeDtype.FP16, 1).kernel());
        assertEquals(
                "residual_add_f32",
                EncoderOpsLaunch.elementwise("residual_add", ComputeDtype.FP32, 1)
                        .kernel());
    }

    @Test
    void elementwiseRejectsUnknownOpsAndNegativeCounts() {
        IllegalArgumentException e = assertThrows(
                IllegalArgumentException.class,
                () -> EncoderOpsLaunch.elementwise("add_layernorm", ComputeDtype.FP16, 8));
        assertTrue(
                e.getMessage().contains("not an element-wise kernel")
                        && e.getMessage().contains("gelu"),
                e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> EncoderOpsLaunch.elementwise("gelu", ComputeDtype.FP16, -1));
    }
}

package dev.attune.kernels.select;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.attune.kernels.attention.MaskKind;
import dev.attune.kernels.device.ComputeCapability;
import dev.attune.kernels.device.DeviceInfo;
import dev.attune.kernels.device.SimulatedDevices;
import java.util.Optional;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** Selector rules beyond the table: reasons, overrides, short rows, old drivers, chunking. */
class AttentionSelectorTest {

    private static final DeviceInfo T4 = SimulatedDevices.get("T4", 0);
    private static final DeviceInfo A100 = SimulatedDevices.get("A100", 1);
    private static final DeviceInfo V100 = SimulatedDevices.get("V100", 2);
    private static final DeviceInfo P100 = SimulatedDevices.get("P100", 3);

    private static AttentionChoice select(DeviceInfo device, AttentionRequest req, UserOverrides overrides) {
        return AttentionSelector.select(device, req, overrides, KernelSupportFixture.README_TABLE, 0.9);
    }

    private static DeviceInfo withDriver(DeviceInfo d, int driverVersion) {
        return new DeviceInfo(
                d.kind(),
                d.name(),
                d.ordinal(),
                d.pciBusId(),
                d.capability(),
                d.totalMemory(),
                d.freeMemory(),
                d.multiprocessors(),
                d.sharedMemoryPerBlock(),
                driverVersion,
                d.simulated());
    }

    private static AttentionRequest req(ComputeDtype model, int headDim, int n) {
        return new AttentionRequest(model, 12, headDim, 16, n, MaskKind.PADDING);
    }

    @Test
    void reasonsSayWhyTheBetterPathWasPassedOver() {
        AttentionChoice t4 = select(T4, req(ComputeDtype.BF16, 64, 512), UserOverrides.NONE);
        assertEquals(AttentionPath.FLASH_SM75, t4.path());
        assertTrue(t4.reason().contains("bf16 needs sm_80+"), t4.reason());
        assertTrue(
                t4.reason().contains("flash-sm80: needs sm_80 or newer")
                        && t4.reason().contains("sm_75"),
                t4.reason());
        AttentionChoice a100 = select(A100, req(ComputeDtype.BF16, 64, 512), UserOverrides.NONE);
        assertEquals(AttentionPath.FLASH_SM80, a100.path());
        assertTrue(a100.reason().contains("sm_80"), a100.reason());
    }

    @Test
    void perDeviceNeverAnyOverTheNode() {
        // The same request on two devices of one node gets two different answers.
        AttentionRequest r = req(ComputeDtype.FP16, 64, 1024);
        assertEquals(AttentionPath.FLASH_SM75, select(T4, r, UserOverrides.NONE).path());
        assertEquals(
                AttentionPath.FLASH_SM80, select(A100, r, UserOverrides.NONE).path());
    }

    @Test
    void aTileThatDoesNotFitTheBlocksSharedMemoryFallsToTheNextPath() {
        // P100 blocks get 48 KiB: mem-efficient's fp32 tiles for head_dim 256 need more.
        AttentionChoice p100 = select(P100, req(ComputeDtype.FP32, 256, 4096), UserOverrides.NONE);
        assertEquals(AttentionPath.MATH, p100.path());
        assertTrue(
                p100.reason().contains("mem-efficient: its tile for head_dim 256 needs")
                        && p100.reason().contains("gives a block 49152"),
                p100.reason());
        // V100 blocks may opt in to 96 KiB, which holds them.
        assertEquals(
                AttentionPath.MEM_EFFICIENT,
                select(V100, req(ComputeDtype.FP32, 256, 4096), UserOverrides.NONE)
                        .path());
    }

    @Test
    void shortRowsUseMathWhereNoFlashKernelRuns() {
        assertEquals(
                AttentionPath.MATH,
                select(V100, req(ComputeDtype.FP32, 64, 64), UserOverrides.NONE).path());
        assertEquals(
                AttentionPath.MEM_EFFICIENT,
                select(V100, req(ComputeDtype.FP32, 64, 65), UserOverrides.NONE).path());
        assertEquals(
                AttentionPath.FLASH_SM75,
                select(T4, req(ComputeDtype.FP32, 64, 16), UserOverrides.NONE).path());
    }

    @Test
    void forcedPathTheDeviceCannotRunNamesDevicePathAndReason() {
        UnsupportedPathException e = assertThrows(
                UnsupportedPathException.class,
                () -> select(T4, req(ComputeDtype.FP16, 64, 512), UserOverrides.force(AttentionPath.FLASH_SM80)));
        assertTrue(
                e.getMessage().contains("Tesla T4")
                        && e.getMessage().contains("flash-sm80")
                        && e.getMessage().contains("sm_80"),
                e.getMessage());
        UnsupportedPathException cpu = assertThrows(
                UnsupportedPathException.class,
                () -> select(
                        DeviceInfo.cpu(),
                        req(ComputeDtype.FP32, 64, 512),
                        UserOverrides.force(AttentionPath.MEM_EFFICIENT)));
        assertTrue(cpu.getMessage().contains("not a GPU"), cpu.getMessage());
        UnsupportedPathException fp32 = assertThrows(
                UnsupportedPathException.class,
                () -> select(P100, req(ComputeDtype.FP16, 64, 512), UserOverrides.force(AttentionPath.FLASH_SM75)));
        assertTrue(fp32.getMessage().contains("sm_75"), fp32.getMessage());
    }

    @Test
    void forcedPathThatRunsIsTaken() {
        AttentionChoice c =
                select(A100, req(ComputeDtype.FP16, 64, 512), UserOverrides.force(AttentionPath.MEM_EFFICIENT));
        assertEquals(AttentionPath.MEM_EFFICIENT, c.path());
        assertTrue(c.reason().contains("forced"));
        assertEquals(
                AttentionPath.CPU_MATH,
                select(DeviceInfo.cpu(), req(ComputeDtype.FP32, 64, 512), UserOverrides.force(AttentionPath.CPU_MATH))
                        .path());
    }

    @Test
    void excludedPathsAreSkipped() {
        AttentionChoice c =
                select(A100, req(ComputeDtype.FP16, 64, 512), UserOverrides.exclude(AttentionPath.FLASH_SM80));
        assertEquals(AttentionPath.FLASH_SM75, c.path());
        assertTrue(c.reason().contains("excluded"), c.reason());
        AttentionChoice cpu = select(
                DeviceInfo.cpu(), req(ComputeDtype.FP32, 64, 512), UserOverrides.exclude(AttentionPath.CPU_FLASH));
        assertEquals(AttentionPath.CPU_MATH, cpu.path());
        assertThrows(
                UnsupportedPathException.class,
                () -> select(
                        DeviceInfo.cpu(),
                        req(ComputeDtype.FP32, 64, 512),
                        UserOverrides.exclude(AttentionPath.CPU_FLASH, AttentionPath.CPU_MATH)));
        assertThrows(
                IllegalArgumentException.class,
                () -> new UserOverrides(Optional.of(AttentionPath.MATH), Set.of(AttentionPath.MATH), Optional.empty()));
    }

    @Test
    void dtypeOverrides() {
        assertEquals(
                ComputeDtype.FP32,
                select(A100, req(ComputeDtype.FP16, 64, 512), UserOverrides.NONE.withDtype(ComputeDtype.FP32))
                        .dtype());
        assertEquals(
                AttentionPath.MEM_EFFICIENT,
                select(A100, req(ComputeDtype.FP16, 64, 512), UserOverrides.NONE.withDtype(ComputeDtype.FP32))
                        .path(),
                "flash needs fp16/bf16");
        UnsupportedPathException e = assertThrows(
                UnsupportedPathException.class,
                () -> select(T4, req(ComputeDtype.FP16, 64, 512), UserOverrides.NONE.withDtype(ComputeDtype.BF16)));
        assertTrue(e.getMessage().contains("bf16") && e.getMessage().contains("Tesla T4"), e.getMessage());
        assertEquals(
                ComputeDtype.FP32,
                select(
                                DeviceInfo.cpu(),
                                req(ComputeDtype.FP32, 64, 512),
                                UserOverrides.NONE.withDtype(ComputeDtype.FP16))
                        .dtype(),
                "the CPU computes in fp32");
    }

    @Test
    void oldDriverOnA100FallsToThePathWhosePtxItLoads() {
        AttentionRequest r = req(ComputeDtype.FP16, 64, 512);
        // CUDA 10.2 loads flash_sm75's ISA 6.5 but not flash_sm80's 7.0.
        AttentionChoice c102 = select(withDriver(A100, 10020), r, UserOverrides.NONE);
        assertEquals(AttentionPath.FLASH_SM75, c102.path(), c102.reason());
        assertTrue(
                c102.reason().contains("driver 10.2 is older than CUDA 11.0, which flash_sm80's PTX needs"),
                c102.reason());
        // CUDA 10.1 loads neither flash module; the CUDA-core path's ISA 6.0 needs 9.0.
        AttentionChoice c101 = select(withDriver(A100, 10010), r, UserOverrides.NONE);
        assertEquals(AttentionPath.MEM_EFFICIENT, c101.path(), c101.reason());
        assertEquals(ComputeDtype.FP16, c101.dtype());
        assertTrue(
                c101.reason().contains("driver 10.1 is older than CUDA 11.0, which flash_sm80's PTX needs")
                        && c101.reason().contains("driver 10.1 is older than CUDA 10.2, which flash_sm75's PTX needs"),
                c101.reason());
    }

    @Test
    void t4OnDriver101RunsMemEfficient() {
        AttentionChoice c = select(withDriver(T4, 10010), req(ComputeDtype.FP16, 64, 512), UserOverrides.NONE);
        assertEquals(AttentionPath.MEM_EFFICIENT, c.path(), c.reason());
        assertTrue(c.reason().contains("flash_sm75's PTX needs"), c.reason());
        UnsupportedPathException e = assertThrows(
                UnsupportedPathException.class,
                () -> select(
                        withDriver(T4, 10010),
                        req(ComputeDtype.FP16, 64, 512),
                        UserOverrides.force(AttentionPath.FLASH_SM75)));
        assertTrue(
                e.getMessage().contains("driver 10.1 is older than CUDA 10.2, which flash_sm75's PTX needs"),
                e.getMessage());
    }

    @Test
    void driverOlderThanEveryModuleFallsToTheCpuWithTheReason() {
        AttentionChoice c = select(withDriver(A100, 8000), req(ComputeDtype.FP16, 64, 512), UserOverrides.NONE);
        assertEquals(AttentionPath.CPU_FLASH, c.path());
        assertEquals(ComputeDtype.FP32, c.dtype());
        assertTrue(
                c.reason().contains("driver 8.0 is older than CUDA 9.0, which mem_efficient's PTX needs")
                        && c.reason().contains("math_attention's PTX needs"),
                c.reason());
    }

    @Test
    void withoutShippedPtxEveryGpuPathIsUnavailable() {
        KernelSupport none =
                KernelSupport.absent("the PTX manifest dev/attune/kernels/ptx/manifest.json is not on the classpath");
        AttentionChoice c =
                AttentionSelector.select(A100, req(ComputeDtype.FP16, 64, 512), UserOverrides.NONE, none, 0.9);
        assertEquals(AttentionPath.CPU_FLASH, c.path());
        assertTrue(c.reason().contains("no GPU code is available: the PTX manifest"), c.reason());
    }

    @Test
    void aModuleMissingFromTheBuildRulesOutItsPathsOnly() {
        KernelSupport noFlash80 = KernelSupport.of(KernelSupportFixture.README_TABLE.modules().values().stream()
                .filter(m -> !m.module().equals("flash_sm80"))
                .toList());
        AttentionChoice c =
                AttentionSelector.select(A100, req(ComputeDtype.FP16, 64, 512), UserOverrides.NONE, noFlash80, 0.9);
        assertEquals(AttentionPath.FLASH_SM75, c.path());
        assertTrue(c.reason().contains("the PTX module flash_sm80 is not shipped"), c.reason());
    }

    @Test
    void tooOldArchitectureFallsToTheCpu() {
        DeviceInfo k80 = new DeviceInfo(
                DeviceInfo.Kind.GPU,
                "Tesla K80",
                0,
                "",
                new ComputeCapability(3, 7),
                12L << 30,
                11L << 30,
                13,
                48 * 1024,
                13000,
                false);
        AttentionChoice c = select(k80, req(ComputeDtype.FP32, 64, 512), UserOverrides.NONE);
        assertEquals(AttentionPath.CPU_FLASH, c.path());
        assertTrue(c.reason().contains("sm_60") && c.reason().contains("sm_37"), c.reason());
    }

    @Test
    void mathScoresAreChunkedWhenTheyDoNotFit() {
        DeviceInfo small = SimulatedDevices.get("P100", 0).withFreeMemory(64L << 20); // 64 MiB free
        AttentionRequest r = new AttentionRequest(ComputeDtype.FP32, 16, 64, 64, 4096, MaskKind.NONE);
        AttentionChoice c = select(small, r, UserOverrides.force(AttentionPath.MATH));
        // 64 rows x 16 heads x 4096 keys x 4 bytes = 16 MiB per query; 64 MiB x 0.9 x 0.25 holds 0 -> at least 1.
        assertEquals(1, c.queryChunk());
        assertTrue(c.reason().contains("chunked"), c.reason());
        DeviceInfo big = SimulatedDevices.get("H100", 0);
        assertEquals(
                4096,
                select(
                                big,
                                new AttentionRequest(ComputeDtype.FP32, 16, 64, 1, 4096, MaskKind.NONE),
                                UserOverrides.force(AttentionPath.MATH))
                        .queryChunk());
        int chunk = AttentionSelector.mathQueryChunk(
                new AttentionRequest(ComputeDtype.FP32, 12, 64, 8, 16384, MaskKind.NONE), 16L << 30, 0.9);
        // 16 GiB x 0.9 x 0.25 / (8 x 12 x 16384 x 4 B) = 614.4 -> 614 queries per chunk.
        assertEquals(614, chunk);
    }
}

package dev.attune.kernels.select;

import dev.attune.kernels.attention.MaskKind;
import dev.attune.kernels.device.ComputeCapability;
import dev.attune.kernels.device.DeviceInfo;
import dev.attune.kernels.device.SimulatedDevices;
import org.junit.jupiter.api.Test;

import java.util.Optional;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Selector rules beyond the table: reasons, overrides, short rows, old drivers, chunking. */
class AttentionSelectorTest {

    private static final DeviceInfo T4 = SimulatedDevices.get("T4", 0);
    private static final DeviceInfo A100 = SimulatedDevices.get("A100", 1);
    private static final DeviceInfo V100 = SimulatedDevices.get("V100", 2);
    private static final DeviceInfo P100 = SimulatedDevices.get("P100", 3);

    private static AttentionRequest req(ComputeDtype model, int headDim, int n) {
        return new AttentionRequest(model, 12, headDim, 16, n, MaskKind.PADDING);
    }

    @Test
    void reasonsSayWhyTheBetterPathWasPassedOver() {
        AttentionChoice t4 = AttentionSelector.select(T4, req(ComputeDtype.BF16, 64, 512), UserOverrides.NONE);
        assertEquals(AttentionPath.FLASH_SM75, t4.path());
        assertTrue(t4.reason().contains("bf16 needs sm_80+"), t4.reason());
        assertTrue(t4.reason().contains("flash-sm80: needs sm_80 or newer") && t4.reason().contains("sm_75"), t4.reason());
        AttentionChoice a100 = AttentionSelector.select(A100, req(ComputeDtype.BF16, 64, 512), UserOverrides.NONE);
        assertEquals(AttentionPath.FLASH_SM80, a100.path());
        assertTrue(a100.reason().contains("sm_80"), a100.reason());
    }

    @Test
    void perDeviceNeverAnyOverTheNode() {
        // The same request on two devices of one node gets two different answers.
        AttentionRequest r = req(ComputeDtype.FP16, 64, 1024);
        assertEquals(AttentionPath.FLASH_SM75, AttentionSelector.select(T4, r, UserOverrides.NONE).path());
        assertEquals(AttentionPath.FLASH_SM80, AttentionSelector.select(A100, r, UserOverrides.NONE).path());
    }

    @Test
    void shortRowsUseMathWhereNoFlashKernelRuns() {
        assertEquals(AttentionPath.MATH, AttentionSelector.select(V100, req(ComputeDtype.FP32, 64, 64), UserOverrides.NONE).path());
        assertEquals(AttentionPath.MEM_EFFICIENT,
                AttentionSelector.select(V100, req(ComputeDtype.FP32, 64, 65), UserOverrides.NONE).path());
        assertEquals(AttentionPath.FLASH_SM75, AttentionSelector.select(T4, req(ComputeDtype.FP32, 64, 16), UserOverrides.NONE).path());
    }

    @Test
    void forcedPathTheDeviceCannotRunNamesDevicePathAndReason() {
        UnsupportedPathException e = assertThrows(UnsupportedPathException.class,
                () -> AttentionSelector.select(T4, req(ComputeDtype.FP16, 64, 512), UserOverrides.force(AttentionPath.FLASH_SM80)));
        assertTrue(e.getMessage().contains("Tesla T4") && e.getMessage().contains("flash-sm80")
                && e.getMessage().contains("sm_80"), e.getMessage());
        UnsupportedPathException cpu = assertThrows(UnsupportedPathException.class,
                () -> AttentionSelector.select(DeviceInfo.cpu(), req(ComputeDtype.FP32, 64, 512),
                        UserOverrides.force(AttentionPath.MEM_EFFICIENT)));
        assertTrue(cpu.getMessage().contains("not a GPU"), cpu.getMessage());
        UnsupportedPathException fp32 = assertThrows(UnsupportedPathException.class,
                () -> AttentionSelector.select(P100, req(ComputeDtype.FP16, 64, 512), UserOverrides.force(AttentionPath.FLASH_SM75)));
        assertTrue(fp32.getMessage().contains("sm_75"), fp32.getMessage());
    }

    @Test
    void forcedPathThatRunsIsTaken() {
        AttentionChoice c = AttentionSelector.select(A100, req(ComputeDtype.FP16, 64, 512),
                UserOverrides.force(AttentionPath.MEM_EFFICIENT));
        assertEquals(AttentionPath.MEM_EFFICIENT, c.path());
        assertTrue(c.reason().contains("forced"));
        assertEquals(AttentionPath.CPU_MATH, AttentionSelector.select(DeviceInfo.cpu(), req(ComputeDtype.FP32, 64, 512),
                UserOverrides.force(AttentionPath.CPU_MATH)).path());
    }

    @Test
    void excludedPathsAreSkipped() {
        AttentionChoice c = AttentionSelector.select(A100, req(ComputeDtype.FP16, 64, 512),
                UserOverrides.exclude(AttentionPath.FLASH_SM80));
        assertEquals(AttentionPath.FLASH_SM75, c.path());
        assertTrue(c.reason().contains("excluded"), c.reason());
        AttentionChoice cpu = AttentionSelector.select(DeviceInfo.cpu(), req(ComputeDtype.FP32, 64, 512),
                UserOverrides.exclude(AttentionPath.CPU_FLASH));
        assertEquals(AttentionPath.CPU_MATH, cpu.path());
        assertThrows(UnsupportedPathException.class, () -> AttentionSelector.select(DeviceInfo.cpu(),
                req(ComputeDtype.FP32, 64, 512), UserOverrides.exclude(AttentionPath.CPU_FLASH, AttentionPath.CPU_MATH)));
        assertThrows(IllegalArgumentException.class, () -> new UserOverrides(Optional.of(AttentionPath.MATH),
                Set.of(AttentionPath.MATH), Optional.empty()));
    }

    @Test
    void dtypeOverrides() {
        assertEquals(ComputeDtype.FP32, AttentionSelector.select(A100, req(ComputeDtype.FP16, 64, 512),
                UserOverrides.NONE.withDtype(ComputeDtype.FP32)).dtype());
        assertEquals(AttentionPath.MEM_EFFICIENT, AttentionSelector.select(A100, req(ComputeDtype.FP16, 64, 512),
                UserOverrides.NONE.withDtype(ComputeDtype.FP32)).path(), "flash needs fp16/bf16");
        UnsupportedPathException e = assertThrows(UnsupportedPathException.class, () -> AttentionSelector.select(T4,
                req(ComputeDtype.FP16, 64, 512), UserOverrides.NONE.withDtype(ComputeDtype.BF16)));
        assertTrue(e.getMessage().contains("bf16") && e.getMessage().contains("Tesla T4"), e.getMessage());
        assertEquals(ComputeDtype.FP32, AttentionSelector.select(DeviceInfo.cpu(), req(ComputeDtype.FP32, 64, 512),
                UserOverrides.NONE.withDtype(ComputeDtype.FP16)).dtype(), "the CPU computes in fp32");
    }

    @Test
    void tooOldDriverFallsToTheCpuWithTheReason() {
        DeviceInfo oldDriver = new DeviceInfo(DeviceInfo.Kind.GPU, "NVIDIA A100-SXM4-40GB", 0, "0000:3b:00.0",
                ComputeCapability.SM80, 40L << 30, 39L << 30, 108, 163 * 1024, 12020, false);
        AttentionChoice c = AttentionSelector.select(oldDriver, req(ComputeDtype.FP16, 64, 512), UserOverrides.NONE);
        assertEquals(AttentionPath.CPU_FLASH, c.path());
        assertEquals(ComputeDtype.FP32, c.dtype());
        assertTrue(c.reason().contains("driver 12.2") && c.reason().contains("13.0"), c.reason());
    }

    @Test
    void tooOldArchitectureFallsToTheCpu() {
        DeviceInfo k80 = new DeviceInfo(DeviceInfo.Kind.GPU, "Tesla K80", 0, "", new ComputeCapability(3, 7), 12L << 30,
                11L << 30, 13, 48 * 1024, 13000, false);
        AttentionChoice c = AttentionSelector.select(k80, req(ComputeDtype.FP32, 64, 512), UserOverrides.NONE);
        assertEquals(AttentionPath.CPU_FLASH, c.path());
        assertTrue(c.reason().contains("sm_60") && c.reason().contains("sm_37"), c.reason());
    }

    @Test
    void mathScoresAreChunkedWhenTheyDoNotFit() {
        DeviceInfo small = SimulatedDevices.get("P100", 0).withFreeMemory(64L << 20); // 64 MiB free
        AttentionRequest r = new AttentionRequest(ComputeDtype.FP32, 16, 64, 64, 4096, MaskKind.NONE);
        AttentionChoice c = AttentionSelector.select(small, r, UserOverrides.force(AttentionPath.MATH));
        // 64 rows x 16 heads x 4096 keys x 4 bytes = 16 MiB per query; 64 MiB x 0.9 x 0.25 holds 0 -> at least 1.
        assertEquals(1, c.queryChunk());
        assertTrue(c.reason().contains("chunked"), c.reason());
        DeviceInfo big = SimulatedDevices.get("H100", 0);
        assertEquals(4096, AttentionSelector.select(big, new AttentionRequest(ComputeDtype.FP32, 16, 64, 1, 4096, MaskKind.NONE),
                UserOverrides.force(AttentionPath.MATH)).queryChunk());
        int chunk = AttentionSelector.mathQueryChunk(new AttentionRequest(ComputeDtype.FP32, 12, 64, 8, 16384, MaskKind.NONE),
                16L << 30, 0.9);
        // 16 GiB x 0.9 x 0.25 / (8 x 12 x 16384 x 4 B) = 614.4 -> 614 queries per chunk.
        assertEquals(614, chunk);
    }
}

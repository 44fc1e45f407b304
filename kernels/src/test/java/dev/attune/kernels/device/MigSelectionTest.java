package dev.attune.kernels.device;

import static dev.attune.kernels.device.DeviceSelectionTest.env;
import static dev.attune.kernels.device.DeviceSelectionTest.gpu;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Spark addresses of MIG instances ({@code "MIG-<uuid>"}, as nvidia-smi -L and NVML name them).
 * The driver, as JCuda reads it ({@code cuDeviceGetUuid}), reports a MIG instance under its
 * parent GPU's UUID, so these addresses are matched by their place in
 * {@code CUDA_VISIBLE_DEVICES}, or by UUID where a device does carry its MIG UUID.
 */
class MigSelectionTest {

    static final String PARENT = "GPU-41255406-c9af-f94b-4ebf-9d57ad1853da";
    static final String MIG_A = "MIG-a65afc88-50b5-5ccf-b0a8-f93b3247ae9e";
    static final String MIG_B = "MIG-90443af0-2fe6-57fb-86fe-54186d5a6581";

    /** One MIG instance as the driver shows it: ordinal {@code ordinal}, the parent GPU's UUID. */
    static DriverDevice instance(int ordinal) {
        return gpu(ordinal, "A100 80GB PCIe MIG 2g.20gb", "0000:3b:00.0", PARENT);
    }

    static List<Integer> ordinals(ProbeResult r) {
        return r.devices().stream().map(DeviceInfo::ordinal).toList();
    }

    static ProbeResult select(List<DriverDevice> visible, String address, Map<String, String> env) {
        return DeviceSelection.select(visible, List.of(address), env);
    }

    @Test
    void aMigAddressMatchesTheDeviceAtItsPlaceInCudaVisibleDevices() {
        ProbeResult r = select(List.of(instance(0)), MIG_A, env("CUDA_VISIBLE_DEVICES", MIG_A));
        assertEquals(List.of(0), ordinals(r), r.reason());
        assertTrue(r.reason().contains("MIG addresses matched by their place in CUDA_VISIBLE_DEVICES"), r.reason());
    }

    @Test
    void theSecondListedInstanceIsDriverOrdinalOne() {
        ProbeResult r =
                select(List.of(instance(0), instance(1)), MIG_B, env("CUDA_VISIBLE_DEVICES", MIG_A + "," + MIG_B));
        assertEquals(List.of(1), ordinals(r), r.reason());
    }

    @Test
    void abbreviationsOnEitherSideMatch() {
        ProbeResult shortSpark = select(List.of(instance(0)), "mig-A65AFC88", env("CUDA_VISIBLE_DEVICES", MIG_A));
        assertEquals(List.of(0), ordinals(shortSpark), shortSpark.reason());
        ProbeResult shortCvd = select(List.of(instance(0)), MIG_A, env("CUDA_VISIBLE_DEVICES", "MIG-a65afc88"));
        assertEquals(List.of(0), ordinals(shortCvd), shortCvd.reason());
    }

    @Test
    void theOlderMigGpuFormMatchesByPlaceToo() {
        String legacy = "MIG-" + PARENT + "/1/0";
        ProbeResult r = select(List.of(instance(0)), legacy, env("CUDA_VISIBLE_DEVICES", legacy));
        assertEquals(List.of(0), ordinals(r), r.reason());
    }

    @Test
    void aListedInstanceTheDriverDoesNotShowMatchesNothing() {
        // CUDA 11/12 drivers may show only the first MIG instance of the list.
        ProbeResult r = select(List.of(instance(0)), MIG_B, env("CUDA_VISIBLE_DEVICES", MIG_A + "," + MIG_B));
        assertTrue(r.devices().isEmpty(), r.reason());
        assertTrue(
                r.reason().contains("is entry 1 of CUDA_VISIBLE_DEVICES, but the driver shows no cuda:1"), r.reason());
    }

    @Test
    void withoutCudaVisibleDevicesAMigAddressMatchesNothingAndSaysWhy() {
        ProbeResult r = select(List.of(instance(0)), MIG_A, env());
        assertTrue(r.devices().isEmpty(), r.reason());
        assertTrue(r.reason().contains("names a MIG instance"), r.reason());
        assertTrue(r.reason().contains("CUDA_VISIBLE_DEVICES is not set"), r.reason());
    }

    @Test
    void aMigAddressCudaVisibleDevicesDoesNotListMatchesNothing() {
        ProbeResult r = select(List.of(instance(0)), MIG_B, env("CUDA_VISIBLE_DEVICES", MIG_A));
        assertTrue(r.devices().isEmpty(), r.reason());
        assertTrue(
                r.reason().contains("CUDA_VISIBLE_DEVICES='" + MIG_A + "' does not list it exactly once"), r.reason());
    }

    @Test
    void anAddressTwoEntriesAbbreviateIsNotGuessed() {
        String cvd = "MIG-a65a,MIG-a65afc88";
        ProbeResult r = select(List.of(instance(0), instance(1)), MIG_A, env("CUDA_VISIBLE_DEVICES", cvd));
        assertTrue(r.devices().isEmpty(), r.reason());
        assertTrue(r.reason().contains("does not list it exactly once"), r.reason());
    }

    @Test
    void aDeviceThatCarriesItsMigUuidMatchesByUuid() {
        // A stand-in for a binding of cuDeviceGetUuid_v2: the device's UUID is the MIG UUID itself.
        List<DriverDevice> visible = List.of(
                gpu(0, "A100 MIG 1g.10gb", "0000:3b:00.0", MIG_B), gpu(1, "A100 MIG 1g.10gb", "0000:3b:00.0", MIG_A));
        ProbeResult r = select(visible, MIG_A, env());
        assertEquals(List.of(1), ordinals(r), r.reason());
        assertEquals("", r.reason());
    }

    @Test
    void devicesWithoutUuidsMatchMigAddressesByPlace() {
        // As a runtime matches a task's address against the probed devices (DeviceInfo carries no UUID).
        List<DeviceInfo> probed = List.of(instance(0).info(), instance(1).info());
        ProbeResult r =
                DeviceSelection.selectDevices(probed, List.of(MIG_B), env("CUDA_VISIBLE_DEVICES", MIG_A + "," + MIG_B));
        assertEquals(List.of(1), ordinals(r), r.reason());
    }

    @Test
    void ordinalsUnderAMigListAreDriverOrdinals() {
        ProbeResult r = select(List.of(instance(0)), "0", env("CUDA_VISIBLE_DEVICES", MIG_A));
        assertEquals(List.of(0), ordinals(r), r.reason());
    }

    @Test
    void addressPartsOfMigMatching() {
        GpuAddress.Uuid a = (GpuAddress.Uuid) GpuAddress.parse(MIG_A);
        GpuAddress.Uuid gpu = (GpuAddress.Uuid) GpuAddress.parse(PARENT);
        assertTrue(a.mig());
        assertFalse(gpu.mig());
        assertTrue(a.overlaps((GpuAddress.Uuid) GpuAddress.parse("MIG-A65AFC88")));
        assertFalse(a.overlaps((GpuAddress.Uuid) GpuAddress.parse(MIG_B)));
        assertFalse(a.matches(PARENT), "a MIG address never matches its parent's UUID");

        CudaVisibleDevices cvd = CudaVisibleDevices.parse(MIG_A + "," + MIG_B);
        assertEquals(0, cvd.driverOrdinalOf(a));
        assertEquals(1, cvd.driverOrdinalOf((GpuAddress.Uuid) GpuAddress.parse(MIG_B)));
        assertEquals(-1, cvd.driverOrdinalOf(gpu));
        // Entries after the point where the driver stops reading are not places.
        assertEquals(-1, CudaVisibleDevices.parse("-1," + MIG_A).driverOrdinalOf(a));
    }
}

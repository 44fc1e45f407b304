package dev.attune.kernels.device;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

class DeviceSelectionTest {

    private static final long GIB = 1L << 30;

    static DriverDevice gpu(int ordinal, String name, String bus, String uuid) {
        DeviceInfo info = new DeviceInfo(
                DeviceInfo.Kind.GPU,
                name,
                ordinal,
                bus,
                name.startsWith("A100") ? ComputeCapability.SM80 : ComputeCapability.SM75,
                16 * GIB,
                16 * GIB,
                40,
                64 * 1024,
                12060,
                false);
        return new DriverDevice(info, uuid);
    }

    static final String UA = "GPU-1a2b3c4d-0000-4000-8000-00000000000a";
    static final String UB = "GPU-1a2b9999-0000-4000-8000-00000000000b";
    static final String UC = "GPU-cccccccc-0000-4000-8000-00000000000c";
    static final String UD = "GPU-dddddddd-0000-4000-8000-00000000000d";

    /**
     * A mixed host as the driver lists it by default (fastest first). PCI order, which nvidia-smi
     * indexes and Spark's discovery script reports: 18 (driver 2), 3b (driver 1), 86 (driver 3), af (driver 0).
     */
    static final List<DriverDevice> MIXED = List.of(
            gpu(0, "A100-SXM4-40GB", "0000:af:00.0", UA),
            gpu(1, "A100-SXM4-40GB", "0000:3b:00.0", UB),
            gpu(2, "Tesla T4", "0000:18:00.0", UC),
            gpu(3, "Tesla T4", "0000:86:00.0", UD));

    /** The same host with CUDA_DEVICE_ORDER=PCI_BUS_ID: driver ordinal equals nvidia-smi index. */
    static final List<DriverDevice> PCI_ORDERED = List.of(
            gpu(0, "Tesla T4", "0000:18:00.0", UC),
            gpu(1, "A100-SXM4-40GB", "0000:3b:00.0", UB),
            gpu(2, "Tesla T4", "0000:86:00.0", UD),
            gpu(3, "A100-SXM4-40GB", "0000:af:00.0", UA));

    /** What the driver shows under CUDA_VISIBLE_DEVICES=2,3 on the PCI-ordered host. */
    static final List<DriverDevice> CVD_2_3 =
            List.of(gpu(0, "Tesla T4", "0000:86:00.0", UD), gpu(1, "A100-SXM4-40GB", "0000:af:00.0", UA));

    /** What the driver shows under CUDA_VISIBLE_DEVICES=<UD>,<UC>. */
    static final List<DriverDevice> CVD_UUIDS =
            List.of(gpu(0, "Tesla T4", "0000:86:00.0", UD), gpu(1, "Tesla T4", "0000:18:00.0", UC));

    static Map<String, String> env(String... kv) {
        Map<String, String> m = new HashMap<>();
        for (int i = 0; i < kv.length; i += 2) {
            m.put(kv[i], kv[i + 1]);
        }
        return m;
    }

    static List<String> addrs(String csv) {
        return csv.isEmpty() ? List.of() : Arrays.asList(csv.split(";", -1));
    }

    static Stream<Arguments> table() {
        Map<String, String> none = env();
        return Stream.of(
                // name, visible, env, addresses (';'-separated), expected driver ordinals, reason fragment ("" = empty
                // reason)
                Arguments.of("no addresses: every device", MIXED, none, "", List.of(0, 1, 2, 3), ""),
                Arguments.of("ordinal is the nvidia-smi index (PCI order)", MIXED, none, "0", List.of(2), ""),
                Arguments.of("ordinal 3 on mixed host", MIXED, none, "3", List.of(0), ""),
                Arguments.of(
                        "ordinal under PCI_BUS_ID order",
                        PCI_ORDERED,
                        env("CUDA_DEVICE_ORDER", "PCI_BUS_ID"),
                        "1",
                        List.of(1),
                        ""),
                Arguments.of("bus id, driver form", MIXED, none, "0000:3b:00.0", List.of(1), ""),
                Arguments.of("bus id, nvidia-smi form", MIXED, none, "00000000:3B:00.0", List.of(1), ""),
                Arguments.of("bus id, no domain", MIXED, none, "3b:00.0", List.of(1), ""),
                Arguments.of("bus id, padded", MIXED, none, " AF:00.0 ", List.of(0), ""),
                Arguments.of("full uuid", MIXED, none, UD, List.of(3), ""),
                Arguments.of("abbreviated uuid, upper case", MIXED, none, "gpu-CCCCCCCC", List.of(2), ""),
                Arguments.of("ambiguous uuid prefix", MIXED, none, "GPU-1a2b", List.of(), "is ambiguous"),
                Arguments.of(
                        "address order kept, duplicates dropped",
                        MIXED,
                        none,
                        "3;0;0000:18:00.0;" + UC,
                        List.of(0, 2),
                        ""),
                Arguments.of(
                        "unknown ordinal",
                        MIXED,
                        none,
                        "7",
                        List.of(),
                        "Spark assigned 7, which matches no visible device"),
                Arguments.of(
                        "unknown bus id keeps the rest",
                        MIXED,
                        none,
                        "0;0000:99:00.0",
                        List.of(2),
                        "Spark assigned 0000:99:00.0, which matches no visible device"),
                Arguments.of("unknown uuid", MIXED, none, "GPU-ffff", List.of(), "GPU-ffff"),
                Arguments.of("not an address", MIXED, none, "cuda:0", List.of(), "'cuda:0' is not a GPU address"),
                Arguments.of("blank address", MIXED, none, " ", List.of(), "' ' is not a GPU address (empty entry)"),
                Arguments.of(
                        "CVD ordinals: address is translated",
                        CVD_2_3,
                        env("CUDA_VISIBLE_DEVICES", "2,3"),
                        "3",
                        List.of(1),
                        ""),
                Arguments.of(
                        "CVD ordinals: address outside the list",
                        CVD_2_3,
                        env("CUDA_VISIBLE_DEVICES", "2,3"),
                        "0",
                        List.of(),
                        "Spark address 0 is not among the ordinals CUDA_VISIBLE_DEVICES shows (2,3)"),
                Arguments.of(
                        "CVD ordinals: bus id still works",
                        CVD_2_3,
                        env("CUDA_VISIBLE_DEVICES", "2,3"),
                        "0000:af:00.0",
                        List.of(1),
                        ""),
                Arguments.of(
                        "CVD cut at -1",
                        CVD_2_3.subList(0, 1),
                        env("CUDA_VISIBLE_DEVICES", "2,-1,3"),
                        "3",
                        List.of(),
                        "the driver stops reading at '-1' and shows only 2"),
                Arguments.of(
                        "CVD empty hides all",
                        List.of(),
                        env("CUDA_VISIBLE_DEVICES", ""),
                        "",
                        List.of(),
                        "CUDA_VISIBLE_DEVICES='' hides every GPU"),
                Arguments.of(
                        "CVD empty, address given",
                        List.of(),
                        env("CUDA_VISIBLE_DEVICES", ""),
                        "0",
                        List.of(),
                        "CUDA_VISIBLE_DEVICES='' hides every GPU"),
                Arguments.of(
                        "CVD -1 hides all",
                        List.of(),
                        env("CUDA_VISIBLE_DEVICES", "-1"),
                        "0",
                        List.of(),
                        "hides every GPU: the driver stops reading at '-1'"),
                Arguments.of(
                        "CVD uuids: uuid address",
                        CVD_UUIDS,
                        env("CUDA_VISIBLE_DEVICES", UD + "," + UC),
                        UC,
                        List.of(1),
                        ""),
                Arguments.of(
                        "CVD uuids: ordinal read as driver ordinal",
                        CVD_UUIDS,
                        env("CUDA_VISIBLE_DEVICES", UD + "," + UC),
                        "1",
                        List.of(1),
                        "read as CUDA ordinals"),
                Arguments.of(
                        "CVD pci ids: driver hid everything",
                        List.of(),
                        env("CUDA_VISIBLE_DEVICES", "0000:3b:00.0"),
                        "0000:3b:00.0",
                        List.of(),
                        "does not accept PCI bus ids such as 0000:3b:00.0"),
                Arguments.of(
                        "CVD pci ids: driver showed all, Attune applies them",
                        MIXED,
                        env("CUDA_VISIBLE_DEVICES", "0000:3b:00.0,18:00.0"),
                        "",
                        List.of(1, 2),
                        "Attune applied the PCI bus ids itself"),
                Arguments.of(
                        "CVD pci ids: an address outside them",
                        MIXED,
                        env("CUDA_VISIBLE_DEVICES", "0000:3b:00.0,18:00.0"),
                        "0000:af:00.0",
                        List.of(),
                        "Spark assigned 0000:af:00.0, which matches no visible device"),
                Arguments.of(
                        "CVD pci ids after an accepted prefix",
                        CVD_2_3.subList(0, 1),
                        env("CUDA_VISIBLE_DEVICES", "2,0000:af:00.0"),
                        "",
                        List.of(0),
                        "stops reading at '0000:af:00.0' and shows only 2"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("table")
    void selects(
            String name,
            List<DriverDevice> visible,
            Map<String, String> env,
            String addresses,
            List<Integer> expected,
            String reason) {
        ProbeResult r = DeviceSelection.select(visible, addrs(addresses), env);
        assertEquals(
                expected,
                r.devices().stream().map(DeviceInfo::ordinal).collect(Collectors.toList()),
                () -> "reason: " + r.reason());
        if (reason.isEmpty()) {
            assertEquals("", r.reason());
        } else {
            assertTrue(r.reason().contains(reason), r.reason());
        }
    }

    @Test
    void unmatchedReasonListsWhatIsVisible() {
        ProbeResult r = DeviceSelection.select(MIXED.subList(0, 1), List.of("5"), env());
        assertEquals(
                "Spark assigned 5, which matches no visible device (visible: cuda:0 A100-SXM4-40GB 0000:af:00.0 " + UA
                        + ")",
                r.reason());
    }

    @Test
    void nullInputsAreEmpty() {
        ProbeResult r = DeviceSelection.select(null, null, null);
        assertEquals(List.of(), r.devices());
        assertEquals("the driver shows no device", r.reason());
    }

    @Test
    void simulatedDevicesGoThroughTheSameRules() {
        List<DeviceInfo> sim = SimulatedDevices.parseList("T4,A100,H100");
        assertEquals(sim, DeviceSelection.selectDevices(sim, List.of(), env()).devices());
        assertEquals(
                List.of(sim.get(1)),
                DeviceSelection.selectDevices(sim, List.of("1"), env()).devices());
        assertEquals(
                List.of(sim.get(2), sim.get(0)),
                DeviceSelection.selectDevices(sim, List.of("2", "0"), env()).devices());
        assertEquals(
                List.of(sim.get(1)),
                DeviceSelection.selectDevices(sim, List.of("5"), env("CUDA_VISIBLE_DEVICES", "4,5,6"))
                        .devices());

        ProbeResult byBus = DeviceSelection.selectDevices(sim, List.of("0000:3b:00.0", "GPU-abc"), env());
        assertEquals(List.of(), byBus.devices());
        assertTrue(
                byBus.reason().contains("Spark assigned 0000:3b:00.0, GPU-abc, which match no visible device"),
                byBus.reason());

        List<DriverDevice> wrapped = sim.stream().map(DriverDevice::of).collect(Collectors.toList());
        for (List<String> a : List.<List<String>>of(List.of(), List.of("2"), List.of("7"), List.of("0", "x"))) {
            assertEquals(DeviceSelection.select(wrapped, a, env()), DeviceSelection.selectDevices(sim, a, env()));
        }
    }

    @Test
    void explainsCudaVisibleDevices() {
        assertEquals("", DeviceSelection.explainCudaVisibleDevices(env(), -1));
        assertEquals(
                "CUDA_VISIBLE_DEVICES='' hides every GPU",
                DeviceSelection.explainCudaVisibleDevices(env("CUDA_VISIBLE_DEVICES", ""), 0));
    }
}

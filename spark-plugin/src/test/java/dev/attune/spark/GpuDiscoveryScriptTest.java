package dev.attune.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.attune.kernels.device.ComputeCapability;
import dev.attune.kernels.device.DeviceInfo;
import dev.attune.kernels.device.DeviceSelection;
import dev.attune.kernels.device.DriverDevice;
import dev.attune.kernels.device.ProbeResult;
import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code conf/getGpusResources.sh}, Spark's GPU discovery script, run with {@code bash} against a
 * fake {@code nvidia-smi} that describes a host with two T4s and two A100s: the JSON line Spark
 * reads, for every GPU, {@code CUDA_VISIBLE_DEVICES} filtering, PCI bus ids, and hosts without
 * nvidia-smi or with a failing one. The addresses it prints are then given to Attune's own
 * {@link DeviceSelection}, which must find the same physical devices in both address formats.
 */
class GpuDiscoveryScriptTest {

    /** The fake host, as nvidia-smi lists it (index order = PCI bus order). */
    private static final String FAKE_NVIDIA_SMI = """
            #!/bin/sh
            case "${FAKE_NVSMI:-ok}" in
              fail) echo "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver."; exit 9 ;;
              none) echo "No devices were found"; exit 6 ;;
            esac
            case "$*" in
              *--query-gpu=index,pci.bus_id,name*)
                echo "0, 00000000:3B:00.0, Tesla T4"
                echo "1, 00000000:5E:00.0, Tesla T4"
                echo "2, 00000000:86:00.0, NVIDIA A100-SXM4-40GB"
                echo "3, 00000001:AF:00.0, NVIDIA A100-SXM4-80GB"
                ;;
              *--query-gpu=index,uuid*)
                echo "0, GPU-0a1b2c3d-0000-1111-2222-333344445555"
                echo "1, GPU-0a1b2c3d-9999-1111-2222-333344445555"
                echo "2, GPU-8932f937-d72c-4106-c12f-20bd9faed9f6"
                echo "3, GPU-b4e6a1f0-1234-5678-9abc-def012345678"
                ;;
              *) echo "fake nvidia-smi: unexpected arguments: $*" >&2; exit 2 ;;
            esac
            """;

    @TempDir
    static Path tmp;

    private static Path script;
    private static Path fakeBin;
    private static Path bareBin;

    private record Result(int code, String stdout, String stderr) {}

    @BeforeAll
    static void setUp() throws IOException {
        Path root = Path.of(System.getProperty("spark.test.home")).getParent();
        script = root.resolve("conf/getGpusResources.sh");
        assertTrue(Files.isRegularFile(script), script + " is missing");

        fakeBin = Files.createDirectory(tmp.resolve("fake-bin"));
        Path smi = fakeBin.resolve("nvidia-smi");
        Files.writeString(smi, FAKE_NVIDIA_SMI, StandardCharsets.UTF_8);
        Files.setPosixFilePermissions(smi, PosixFilePermissions.fromString("rwxr-xr-x"));

        // A PATH that has awk but no nvidia-smi, whatever this machine has installed.
        bareBin = Files.createDirectory(tmp.resolve("bare-bin"));
        Files.createSymbolicLink(bareBin.resolve("awk"), onPath("awk"));
    }

    private static Path onPath(String program) {
        for (String dir : System.getenv().getOrDefault("PATH", "/usr/bin:/bin").split(File.pathSeparator)) {
            Path p = Path.of(dir, program);
            if (Files.isExecutable(p)) {
                return p;
            }
        }
        throw new IllegalStateException(program + " is not on PATH");
    }

    /** Runs {@code bash conf/getGpusResources.sh} with the fake nvidia-smi first on PATH (or none) and {@code env} added. */
    private static Result run(boolean withNvidiaSmi, Map<String, String> env) throws Exception {
        ProcessBuilder pb = new ProcessBuilder(onPath("bash").toString(), script.toString());
        Map<String, String> e = pb.environment();
        for (String v : List.of(
                "CUDA_VISIBLE_DEVICES",
                "CUDA_DEVICE_ORDER",
                "ATTUNE_GPU_ADDRESS_FORMAT",
                "ATTUNE_GPU_RESOURCE_NAME",
                "FAKE_NVSMI")) {
            e.remove(v);
        }
        e.put(
                "PATH",
                withNvidiaSmi
                        ? fakeBin + File.pathSeparator + e.getOrDefault("PATH", "/usr/bin:/bin")
                        : bareBin.toString());
        e.putAll(env);
        Path out = tmp.resolve("stdout");
        Path err = tmp.resolve("stderr");
        pb.redirectOutput(out.toFile()).redirectError(err.toFile());
        Process p = pb.start();
        assertTrue(p.waitFor(30, TimeUnit.SECONDS), "the script did not finish");
        return new Result(p.exitValue(), Files.readString(out), Files.readString(err));
    }

    /** The addresses of the one JSON line the script printed; asserts Spark's format. */
    private static List<String> addresses(Result r) throws Exception {
        assertEquals(0, r.code(), r.stderr());
        String[] lines = r.stdout().split("\n");
        assertEquals(1, lines.length, "exactly one line on stdout: " + r.stdout());
        JsonNode json = new ObjectMapper().readTree(lines[0]);
        assertEquals("gpu", json.get("name").asText());
        JsonNode a = json.get("addresses");
        assertNotNull(a, r.stdout());
        assertTrue(a.isArray(), r.stdout());
        List<String> out = new ArrayList<>();
        a.forEach(x -> {
            assertTrue(x.isTextual(), "addresses are strings: " + r.stdout());
            out.add(x.asText());
        });
        return out;
    }

    private static List<String> addresses(Map<String, String> env) throws Exception {
        return addresses(run(true, env));
    }

    @Test
    void listsEveryGpuOfAMixedHostByIndex() throws Exception {
        assertEquals(List.of("0", "1", "2", "3"), addresses(Map.of()));
    }

    @Test
    void cudaVisibleDevicesKeepsOnlyTheListedGpusInItsOrder() throws Exception {
        assertEquals(List.of("3", "1"), addresses(Map.of("CUDA_VISIBLE_DEVICES", "3,1")));
        assertEquals(List.of("2", "0"), addresses(Map.of("CUDA_VISIBLE_DEVICES", "2,0,2")));
        assertEquals(List.of("2", "3"), addresses(Map.of("CUDA_VISIBLE_DEVICES", "GPU-8932f937,gpu-B4E6A1F0-1234")));
    }

    @Test
    void cudaVisibleDevicesIsReadAsTheCudaDriverReadsIt() throws Exception {
        assertEquals(List.of(), addresses(Map.of("CUDA_VISIBLE_DEVICES", "")));
        assertEquals(List.of("1"), addresses(Map.of("CUDA_VISIBLE_DEVICES", "1,-1,3")));
        assertEquals(List.of("0"), addresses(Map.of("CUDA_VISIBLE_DEVICES", "0,7,1")));
        assertEquals(List.of(), addresses(Map.of("CUDA_VISIBLE_DEVICES", "0000:3b:00.0,0")));
        assertEquals(List.of("3"), addresses(Map.of("CUDA_VISIBLE_DEVICES", "3,GPU-0a1b2c3d")));
    }

    @Test
    void printsPciBusIdsInTheDriversFormWhenAsked() throws Exception {
        assertEquals(
                List.of("0000:3b:00.0", "0000:5e:00.0", "0000:86:00.0", "0001:af:00.0"),
                addresses(Map.of("ATTUNE_GPU_ADDRESS_FORMAT", "pci")));
        assertEquals(
                List.of("0001:af:00.0", "0000:3b:00.0"),
                addresses(Map.of("ATTUNE_GPU_ADDRESS_FORMAT", "pci", "CUDA_VISIBLE_DEVICES", "3,0")));
    }

    @Test
    void noNvidiaSmiOrAFailingOneMeansNoGpu() throws Exception {
        Result none = run(false, Map.of());
        assertEquals(List.of(), addresses(none));
        assertTrue(none.stderr().contains("nvidia-smi not found"), none.stderr());
        assertEquals(List.of(), addresses(Map.of("FAKE_NVSMI", "fail")));
        assertEquals(List.of(), addresses(Map.of("FAKE_NVSMI", "none")));
    }

    @Test
    void anUnknownAddressFormatIsAnError() throws Exception {
        Result r = run(true, Map.of("ATTUNE_GPU_ADDRESS_FORMAT", "uuid"));
        assertEquals(2, r.code());
        assertEquals("", r.stdout());
        assertTrue(r.stderr().contains("ATTUNE_GPU_ADDRESS_FORMAT"), r.stderr());
    }

    /**
     * The driver of the fake host numbers the A100s first (CUDA's default, fastest first), while
     * nvidia-smi and the script count in PCI bus order. Attune must map both address formats to the
     * same physical GPUs.
     */
    @Test
    void attunesDeviceSelectionFindsTheGpusTheScriptNames() throws Exception {
        List<DriverDevice> driverView = List.of(
                gpu(0, "NVIDIA A100-SXM4-40GB", "0000:86:00.0", 8, 0),
                gpu(1, "NVIDIA A100-SXM4-80GB", "0001:af:00.0", 8, 0),
                gpu(2, "Tesla T4", "0000:3b:00.0", 7, 5),
                gpu(3, "Tesla T4", "0000:5e:00.0", 7, 5));
        List<String> expected = List.of("0000:3b:00.0", "0000:5e:00.0", "0000:86:00.0", "0001:af:00.0");

        ProbeResult byIndex = DeviceSelection.select(driverView, addresses(Map.of()), Map.of());
        assertEquals(
                expected, byIndex.devices().stream().map(DeviceInfo::pciBusId).toList(), byIndex.reason());

        ProbeResult byPci =
                DeviceSelection.select(driverView, addresses(Map.of("ATTUNE_GPU_ADDRESS_FORMAT", "pci")), Map.of());
        assertEquals(
                expected, byPci.devices().stream().map(DeviceInfo::pciBusId).toList(), byPci.reason());
        assertEquals("", byPci.reason());
    }

    private static DriverDevice gpu(int ordinal, String name, String bus, int major, int minor) {
        long mem = 16L << 30;
        return DriverDevice.of(new DeviceInfo(
                DeviceInfo.Kind.GPU,
                name,
                ordinal,
                bus,
                new ComputeCapability(major, minor),
                mem,
                mem,
                40,
                64 * 1024,
                13000,
                false));
    }
}

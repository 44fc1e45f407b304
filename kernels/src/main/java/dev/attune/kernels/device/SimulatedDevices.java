package dev.attune.kernels.device;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Collectors;

/**
 * Devices that can be simulated by name, with the figures of the real products (compute
 * capability, memory, multiprocessors, opt-in shared memory per block from NVIDIA's data sheets
 * and the CUDA programming guide). A simulated device drives the selector, precision policy and
 * memory planner exactly as the real one would; its arithmetic runs on the CPU.
 *
 * <p>Free memory is the total less the roughly 0.5 GiB a CUDA context and the driver take.
 */
public final class SimulatedDevices {

    private static final long GIB = 1L << 30;
    private static final long CONTEXT_RESERVE = GIB / 2;
    /** Driver version reported by simulated devices: CUDA 13.0 (R580). */
    public static final int SIMULATED_DRIVER = 13000;

    private record Spec(String name, int major, int minor, long memGiB, int sms, int smemKiB) {}

    private static final Map<String, Spec> SPECS = new LinkedHashMap<>();

    static {
        add("P100", "Tesla P100-PCIE-16GB", 6, 0, 16, 56, 48);
        add("V100", "Tesla V100-SXM2-16GB", 7, 0, 16, 80, 96);
        add("V100-32GB", "Tesla V100-SXM2-32GB", 7, 0, 32, 80, 96);
        add("T4", "Tesla T4", 7, 5, 16, 40, 64);
        add("A10", "NVIDIA A10", 8, 6, 24, 72, 99);
        add("L4", "NVIDIA L4", 8, 9, 24, 58, 99);
        add("A100-40GB", "NVIDIA A100-SXM4-40GB", 8, 0, 40, 108, 163);
        add("A100-80GB", "NVIDIA A100-SXM4-80GB", 8, 0, 80, 108, 163);
        add("H100", "NVIDIA H100 80GB HBM3", 9, 0, 80, 132, 227);
        add("H200", "NVIDIA H200", 9, 0, 141, 132, 227);
    }

    /** Short names that stand for a catalogue entry. */
    private static final Map<String, String> ALIASES =
            Map.of("A100", "A100-40GB", "V100-16GB", "V100", "P100-16GB", "P100", "T4-16GB", "T4", "H100-80GB", "H100");

    private SimulatedDevices() {}

    private static void add(String key, String name, int major, int minor, long memGiB, int sms, int smemKiB) {
        SPECS.put(key, new Spec(name, major, minor, memGiB, sms, smemKiB));
    }

    /** The names that can be simulated, catalogue order. */
    public static List<String> names() {
        return List.copyOf(SPECS.keySet());
    }

    /** The simulated device called {@code name} (case-insensitive), as ordinal {@code ordinal}. */
    public static Optional<DeviceInfo> find(String name, int ordinal) {
        String key = name.trim().toUpperCase(Locale.ROOT);
        key = ALIASES.getOrDefault(key, key);
        Spec s = SPECS.get(key);
        if (s == null) {
            return Optional.empty();
        }
        long total = s.memGiB * GIB;
        return Optional.of(new DeviceInfo(
                DeviceInfo.Kind.GPU,
                s.name,
                ordinal,
                "",
                new ComputeCapability(s.major, s.minor),
                total,
                total - CONTEXT_RESERVE,
                s.sms,
                s.smemKiB * 1024,
                SIMULATED_DRIVER,
                true));
    }

    /** As {@link #find}, or an error listing the names that exist. */
    public static DeviceInfo get(String name, int ordinal) {
        return find(name, ordinal)
                .orElseThrow(() -> new IllegalArgumentException("unknown simulated device '" + name
                        + "'; known: " + String.join(", ", names()) + " (also "
                        + ALIASES.keySet().stream().sorted().collect(Collectors.joining(", ")) + ")"));
    }

    /** Parses "T4,A100,H100" into devices with ordinals 0, 1, 2. */
    public static List<DeviceInfo> parseList(String names) {
        String[] parts = names.split(",");
        return java.util.stream.IntStream.range(0, parts.length)
                .filter(i -> !parts[i].isBlank())
                .mapToObj(i -> get(parts[i], i))
                .collect(Collectors.toList());
    }

    static String describe() {
        return Arrays.toString(SPECS.keySet().toArray());
    }
}

package dev.attune.kernels.device;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * Picks, from the devices the driver shows, the ones Spark assigned to this executor. Pure logic:
 * no driver calls, no I/O; thread-safe; never throws for any input.
 *
 * <h2>Inputs</h2>
 * <ul>
 *   <li>The driver's view: devices in driver ordinal order, after the driver has applied
 *       {@code CUDA_VISIBLE_DEVICES} (ordinals and UUIDs) itself.</li>
 *   <li>Spark's addresses for the {@code gpu} resource ({@code ResourceInformation.addresses()}),
 *       each an ordinal, a PCI bus id in any form {@link GpuAddress} accepts, or a GPU or MIG UUID
 *       (possibly abbreviated). No addresses (empty or {@code null}) means every visible device.</li>
 *   <li>The environment, for {@code CUDA_VISIBLE_DEVICES} (see {@link CudaVisibleDevices}).</li>
 * </ul>
 *
 * <h2>How an address finds its device</h2>
 * <ul>
 *   <li>A PCI bus id matches the device with that bus id (both normalized to "0000:3b:00.0").</li>
 *   <li>A UUID matches the one device whose UUID starts with it; several matches are an error.</li>
 *   <li>A MIG address ({@code "MIG-..."}) that no device UUID matches (the driver's UUIDs, as
 *       JCuda reads them, are never MIG UUIDs: see {@link DriverDevice#uuid()}) matches the
 *       device at its place in {@code CUDA_VISIBLE_DEVICES}, which the driver numbers in list
 *       order: with {@code "MIG-a,MIG-b"}, address {@code "MIG-b"} is driver ordinal 1. When the
 *       variable is not set or does not list the address exactly once, it matches nothing and the
 *       reason says why: the driver then picks the instance it shows by itself.</li>
 *   <li>An ordinal {@code n} is read as Spark's discovery script reports it, i.e. as an
 *       <em>nvidia-smi index</em>, which counts devices in PCI bus order and ignores
 *       {@code CUDA_VISIBLE_DEVICES}:
 *     <ul>
 *       <li>{@code CUDA_VISIBLE_DEVICES} unset: the {@code n}-th visible device in PCI bus order.
 *           This is driver ordinal {@code n} when {@code CUDA_DEVICE_ORDER=PCI_BUS_ID}, and also
 *           under the driver's default (fastest first) on hosts whose GPUs are all alike; on a
 *           host with mixed GPUs it is the device nvidia-smi calls {@code n}, not {@code cuda:n}.
 *           Where a device's bus id is unknown (simulated devices), driver ordinal {@code n}.</li>
 *       <li>{@code CUDA_VISIBLE_DEVICES} a list of ordinals: the device the list placed {@code n}
 *           at (with "2,3", address "3" is driver ordinal 1); an {@code n} not in the list
 *           matches nothing. The list's ordinals are taken to count as Spark's do; on a host with
 *           mixed GPUs set {@code CUDA_DEVICE_ORDER=PCI_BUS_ID} to make that true.</li>
 *       <li>{@code CUDA_VISIBLE_DEVICES} naming devices by UUID or PCI bus id: Attune cannot tell
 *           which physical index a device has, so {@code n} is read as driver ordinal {@code n},
 *           and the reason says so.</li>
 *     </ul></li>
 *   <li>Anything else is not an address; it and addresses that match no device are named in the
 *       reason, and the remaining devices are still returned.</li>
 * </ul>
 * Devices come back in the order of the addresses, each once, with their driver ordinals.
 *
 * <h2>PCI bus ids in {@code CUDA_VISIBLE_DEVICES}</h2>
 * The CUDA driver does not accept them and stops reading the list at the first one. The reason
 * always says so. If the driver nevertheless showed devices, Attune applies the list itself: it
 * keeps the devices the driver placed for the entries before the first bus id and the devices
 * whose bus id the list names, and selects among those.
 */
public final class DeviceSelection {

    private DeviceSelection() {}

    /**
     * The devices of {@code visible} that {@code assigned} names, per the class rules, with
     * {@code CUDA_VISIBLE_DEVICES} read from {@code env}. The result's reason names every address
     * that matched nothing and every interpretation the caller should know of; it is "" when
     * every address matched plainly.
     */
    public static ProbeResult select(List<DriverDevice> visible, List<String> assigned, Map<String, String> env) {
        List<DriverDevice> all = visible == null ? List.of() : List.copyOf(visible);
        List<String> addresses = assigned == null ? List.of() : assigned;
        Optional<CudaVisibleDevices> cvd = CudaVisibleDevices.fromEnvironment(env);
        List<String> notes = new ArrayList<>();
        List<String> problems = new ArrayList<>();

        List<DriverDevice> pool = all;
        if (cvd.isPresent() && !cvd.get().pciBusIds().isEmpty()) {
            notes.add(cvd.get().explain(all.size()));
            if (!all.isEmpty()) {
                Set<String> listed = new LinkedHashSet<>(cvd.get().pciBusIds());
                int prefix = cvd.get().accepted().size();
                pool = all.stream()
                        .filter(d -> d.info().ordinal() < prefix || listed.contains(busId(d)))
                        .collect(Collectors.toList());
                notes.add("Attune applied the PCI bus ids itself and kept " + labels(pool));
            }
        }

        Set<DriverDevice> chosen = new LinkedHashSet<>();
        if (addresses.isEmpty()) {
            chosen.addAll(pool);
        }
        List<String> unmatched = new ArrayList<>();
        boolean ordinalAsDriverNoted = false;
        boolean migNoted = false;
        for (String text : addresses) {
            GpuAddress a = GpuAddress.parse(text);
            if (a instanceof GpuAddress.Invalid inv) {
                problems.add(
                        "Spark address '" + (text == null ? "" : text) + "' is not a GPU address (" + inv.why() + ")");
            } else if (a instanceof GpuAddress.PciBus pci) {
                Optional<DriverDevice> d =
                        pool.stream().filter(x -> busId(x).equals(pci.busId())).findFirst();
                d.ifPresentOrElse(chosen::add, () -> unmatched.add(a.text()));
            } else if (a instanceof GpuAddress.Uuid uuid) {
                List<DriverDevice> m =
                        pool.stream().filter(x -> uuid.matches(x.uuid())).collect(Collectors.toList());
                if (m.size() == 1) {
                    chosen.add(m.get(0));
                } else if (m.isEmpty() && uuid.mig()) {
                    Optional<DriverDevice> d = migByPlace(uuid, cvd, pool, problems);
                    if (d.isPresent()) {
                        chosen.add(d.get());
                        if (!migNoted) {
                            notes.add("MIG addresses matched by their place in " + CudaVisibleDevices.VARIABLE
                                    + " (the CUDA driver, as JCuda reads it with cuDeviceGetUuid, does not report"
                                    + " MIG UUIDs)");
                            migNoted = true;
                        }
                    }
                } else if (m.isEmpty()) {
                    unmatched.add(a.text());
                } else {
                    problems.add("Spark address " + a.text() + " is ambiguous: it begins the UUIDs of " + labels(m));
                }
            } else if (a instanceof GpuAddress.Ordinal ord) {
                if (cvd.isPresent()
                        && cvd.get().acceptedOrdinalsOnly()
                        && cvd.get().pciBusIds().isEmpty()) {
                    int driverOrdinal = cvd.get().driverOrdinalOf(ord.index());
                    if (driverOrdinal < 0) {
                        problems.add("Spark address " + ord.text() + " is not among the ordinals "
                                + CudaVisibleDevices.VARIABLE + " shows ("
                                + cvd.get().accepted().stream()
                                        .map(GpuAddress::text)
                                        .collect(Collectors.joining(","))
                                + ")");
                    } else {
                        byDriverOrdinal(pool, driverOrdinal)
                                .ifPresentOrElse(chosen::add, () -> unmatched.add(a.text()));
                    }
                } else if (cvd.isPresent()) {
                    if (!ordinalAsDriverNoted && !cvd.get().hidesAll()) {
                        notes.add("Spark ordinals read as CUDA ordinals because " + CudaVisibleDevices.VARIABLE
                                + " does not name devices by ordinal");
                        ordinalAsDriverNoted = true;
                    }
                    byDriverOrdinal(pool, ord.index()).ifPresentOrElse(chosen::add, () -> unmatched.add(a.text()));
                } else {
                    byPhysicalIndex(pool, ord.index()).ifPresentOrElse(chosen::add, () -> unmatched.add(a.text()));
                }
            }
        }
        if (!unmatched.isEmpty()) {
            problems.add("Spark assigned " + String.join(", ", unmatched) + ", which "
                    + (unmatched.size() == 1 ? "matches" : "match") + " no visible device (visible: "
                    + (pool.isEmpty() ? "none" : describe(pool)) + ")");
        }
        if (chosen.isEmpty() && problems.isEmpty()) {
            problems.add("the driver shows no device");
        }
        if (!problems.isEmpty() && cvd.isPresent() && cvd.get().pciBusIds().isEmpty()) {
            problems.add(cvd.get().explain(all.size()));
        }
        List<String> parts = new ArrayList<>(problems);
        parts.addAll(notes);
        return new ProbeResult(
                chosen.stream().map(DriverDevice::info).collect(Collectors.toList()), String.join("; ", parts));
    }

    /**
     * As {@link #select} for devices without UUIDs, e.g. simulated ones
     * ({@link SimulatedDevices#parseList}); they go through exactly the same rules.
     */
    public static ProbeResult selectDevices(List<DeviceInfo> visible, List<String> assigned, Map<String, String> env) {
        List<DriverDevice> wrapped = visible == null
                ? List.of()
                : visible.stream().map(DriverDevice::of).collect(Collectors.toList());
        return select(wrapped, assigned, env);
    }

    /**
     * What {@code CUDA_VISIBLE_DEVICES} in {@code env} does, for a probe's reason
     * ("CUDA_VISIBLE_DEVICES='' hides every GPU"); "" when the variable is not set.
     *
     * @param driverDeviceCount the number of devices the driver reported, -1 when unknown
     */
    public static String explainCudaVisibleDevices(Map<String, String> env, int driverDeviceCount) {
        return CudaVisibleDevices.fromEnvironment(env)
                .map(c -> c.explain(driverDeviceCount))
                .orElse("");
    }

    /** The normalized PCI bus id ("0000:3b:00.0"), or empty when {@code text} is none. */
    public static Optional<String> normalizePciBusId(String text) {
        return GpuAddress.normalizePciBusId(text);
    }

    private static String busId(DriverDevice d) {
        return GpuAddress.normalizePciBusId(d.info().pciBusId()).orElse("");
    }

    /**
     * The device of a MIG address that no device UUID matched: the driver ordinal its entry in
     * {@code CUDA_VISIBLE_DEVICES} received. Without such an entry nothing says which instance
     * the driver shows (without the variable it picks one itself), so the address matches
     * nothing; either way the reason is added to {@code problems}.
     */
    private static Optional<DriverDevice> migByPlace(
            GpuAddress.Uuid address, Optional<CudaVisibleDevices> cvd, List<DriverDevice> pool, List<String> problems) {
        int place = cvd.map(c -> c.driverOrdinalOf(address)).orElse(-1);
        if (place < 0) {
            problems.add("Spark address " + address.text() + " names a MIG instance, which Attune matches only"
                    + " through " + CudaVisibleDevices.VARIABLE + " (the CUDA driver, as JCuda reads it, gives"
                    + " MIG instances no MIG UUID), and "
                    + cvd.map(c -> CudaVisibleDevices.VARIABLE + "='" + c.raw() + "' does not list it exactly once")
                            .orElse(CudaVisibleDevices.VARIABLE + " is not set")
                    + ": let the resource manager set it (YARN and Kubernetes do) or set it to the MIG UUIDs"
                    + " the executor is given");
            return Optional.empty();
        }
        Optional<DriverDevice> d = byDriverOrdinal(pool, place);
        if (d.isEmpty()) {
            problems.add("Spark address " + address.text() + " is entry " + place + " of "
                    + CudaVisibleDevices.VARIABLE + ", but the driver shows no cuda:" + place
                    + " (CUDA 11 and 12 drivers may enumerate only one MIG instance per process: give each"
                    + " executor one MIG instance)");
        }
        return d;
    }

    private static Optional<DriverDevice> byDriverOrdinal(List<DriverDevice> pool, int ordinal) {
        return pool.stream().filter(d -> d.info().ordinal() == ordinal).findFirst();
    }

    /** The {@code index}-th device in PCI bus order, or by driver ordinal where bus ids are unknown. */
    private static Optional<DriverDevice> byPhysicalIndex(List<DriverDevice> pool, int index) {
        boolean busIdsKnown = !pool.isEmpty() && pool.stream().noneMatch(d -> busId(d).isEmpty());
        if (!busIdsKnown) {
            return byDriverOrdinal(pool, index);
        }
        List<DriverDevice> sorted = pool.stream()
                .sorted(Comparator.comparing(DeviceSelection::busId))
                .collect(Collectors.toList());
        return index < sorted.size() ? Optional.of(sorted.get(index)) : Optional.empty();
    }

    private static String labels(List<DriverDevice> devices) {
        return devices.isEmpty()
                ? "no device"
                : devices.stream().map(d -> d.info().label()).collect(Collectors.joining(", "));
    }

    private static String describe(List<DriverDevice> devices) {
        return devices.stream()
                .map(d -> {
                    StringBuilder sb = new StringBuilder(d.info().label());
                    String bus = busId(d);
                    if (!bus.isEmpty()) {
                        sb.append(' ').append(bus);
                    }
                    if (!d.uuid().isEmpty()) {
                        sb.append(' ').append(d.uuid());
                    }
                    return sb.toString();
                })
                .collect(Collectors.joining(", "));
    }
}

package dev.attune.kernels.device;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Collectors;

/**
 * The {@code CUDA_VISIBLE_DEVICES} variable read the way the CUDA driver reads it, so that Attune can
 * say what it did to the devices a process sees.
 *
 * <p>Semantics (CUDA Programming Guide, "CUDA Environment Variables"): the value is a comma list
 * of device ordinals and GPU/MIG UUIDs (abbreviated UUIDs allowed). The driver shows exactly the
 * listed devices, renumbered 0, 1, ... in list order. An empty value shows none. At the first
 * entry it cannot use (a negative number such as {@code -1}, a malformed entry) the driver stops
 * reading: only the devices listed before it are shown. The driver does <em>not</em> accept PCI
 * bus ids here; a PCI bus id stops the list like any other invalid entry. Attune cannot know from
 * the text alone whether an ordinal is larger than the host's device count (which also stops the
 * driver); {@link #explain} is told the count the driver reported.
 *
 * <p>Instances are immutable and thread-safe.
 *
 * @param raw     the value as set (not trimmed)
 * @param entries every comma-separated entry, parsed
 */
public record CudaVisibleDevices(String raw, List<GpuAddress> entries) {

    public static final String VARIABLE = "CUDA_VISIBLE_DEVICES";

    public CudaVisibleDevices {
        raw = raw == null ? "" : raw;
        entries = List.copyOf(entries);
    }

    /** The variable from {@code env}; empty when it is not set (the driver then shows every device). */
    public static Optional<CudaVisibleDevices> fromEnvironment(Map<String, String> env) {
        String v = env == null ? null : env.get(VARIABLE);
        return v == null ? Optional.empty() : Optional.of(parse(v));
    }

    /** Parses a value; a blank value has no entries. */
    public static CudaVisibleDevices parse(String value) {
        String v = value == null ? "" : value;
        List<GpuAddress> out = new ArrayList<>();
        if (!v.isBlank()) {
            for (String part : v.split(",", -1)) {
                out.add(GpuAddress.parse(part));
            }
        }
        return new CudaVisibleDevices(v, out);
    }

    /** Index of the first entry the driver stops at (invalid or a PCI bus id), or -1 when it reads them all. */
    public int stopIndex() {
        for (int i = 0; i < entries.size(); i++) {
            GpuAddress a = entries.get(i);
            if (a instanceof GpuAddress.Invalid || a instanceof GpuAddress.PciBus) {
                return i;
            }
        }
        return -1;
    }

    /** The entries the driver applies: those before {@link #stopIndex()}. Driver ordinal i is entry i. */
    public List<GpuAddress> accepted() {
        int stop = stopIndex();
        return stop < 0 ? entries : entries.subList(0, stop);
    }

    /** Every PCI bus id in the list, normalized, wherever it stands. */
    public List<String> pciBusIds() {
        return entries.stream()
                .filter(a -> a instanceof GpuAddress.PciBus)
                .map(a -> ((GpuAddress.PciBus) a).busId())
                .collect(Collectors.toList());
    }

    /** True when the driver shows no device at all because of this value. */
    public boolean hidesAll() {
        return accepted().isEmpty();
    }

    /** True when every accepted entry is an ordinal (and there is at least one). */
    public boolean acceptedOrdinalsOnly() {
        List<GpuAddress> acc = accepted();
        return !acc.isEmpty() && acc.stream().allMatch(a -> a instanceof GpuAddress.Ordinal);
    }

    /**
     * Driver ordinal that physical ordinal {@code index} received, or -1 when the accepted entries
     * do not list it. Meaningful when {@link #acceptedOrdinalsOnly()}.
     */
    public int driverOrdinalOf(int index) {
        List<GpuAddress> acc = accepted();
        for (int i = 0; i < acc.size(); i++) {
            if (acc.get(i) instanceof GpuAddress.Ordinal o && o.index() == index) {
                return i;
            }
        }
        return -1;
    }

    /**
     * Driver ordinal of the device {@code address} names in the accepted entries: the place of the
     * one UUID entry that is {@code address} or an abbreviation of it (or that {@code address}
     * abbreviates), since the driver numbers the listed devices in list order. -1 when no accepted
     * entry, or more than one, overlaps {@code address}. Whether the driver really shows a device
     * at that place is up to it (an unknown UUID ends the list; CUDA 11 and 12 may enumerate only
     * the first MIG instance listed).
     */
    public int driverOrdinalOf(GpuAddress.Uuid address) {
        List<GpuAddress> acc = accepted();
        int found = -1;
        for (int i = 0; i < acc.size(); i++) {
            if (acc.get(i) instanceof GpuAddress.Uuid u && u.overlaps(address)) {
                if (found >= 0) {
                    return -1;
                }
                found = i;
            }
        }
        return found;
    }

    /**
     * One sentence on what this value does, for a probe's reason, e.g.
     * "CUDA_VISIBLE_DEVICES='' hides every GPU". {@code driverDeviceCount} is how many devices the
     * driver reported (-1 when unknown).
     */
    public String explain(int driverDeviceCount) {
        String head = VARIABLE + "='" + raw + "'";
        int stop = stopIndex();
        List<GpuAddress> acc = accepted();
        StringBuilder sb = new StringBuilder(head);
        if (raw.isBlank()) {
            return sb.append(" hides every GPU").toString();
        }
        if (stop >= 0) {
            GpuAddress at = entries.get(stop);
            if (acc.isEmpty()) {
                sb.append(" hides every GPU: the driver stops reading at '")
                        .append(at.text())
                        .append("'");
            } else {
                sb.append(": the driver stops reading at '")
                        .append(at.text())
                        .append("' and shows only ")
                        .append(texts(acc));
            }
            if (at instanceof GpuAddress.Invalid inv) {
                sb.append(" (").append(inv.why()).append(")");
            }
            List<String> pci = pciBusIds();
            if (!pci.isEmpty()) {
                sb.append("; the CUDA driver does not accept PCI bus ids such as ")
                        .append(pci.get(0))
                        .append(" in ")
                        .append(VARIABLE)
                        .append(": name GPUs by ordinal or UUID (nvidia-smi -L)");
            }
        } else {
            sb.append(" limits the driver to ").append(texts(acc));
        }
        if (driverDeviceCount >= 0 && driverDeviceCount < acc.size()) {
            sb.append("; the driver shows only ")
                    .append(driverDeviceCount)
                    .append(driverDeviceCount == 1 ? " device" : " devices")
                    .append(" (an ordinal beyond the host's GPUs or an unknown UUID also stops the list)");
        }
        return sb.toString();
    }

    private static String texts(List<GpuAddress> list) {
        return list.stream().map(GpuAddress::text).collect(Collectors.joining(","));
    }
}

package dev.attune.kernels.device;

import java.util.Locale;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * One way of naming a GPU, as Spark's resource addresses and {@code CUDA_VISIBLE_DEVICES} entries
 * do: an ordinal ({@code "0"}), a PCI bus id ({@code "0000:3b:00.0"}, {@code "00000000:3B:00.0"}
 * as nvidia-smi prints it, or {@code "3b:00.0"} without a domain), or a UUID
 * ({@code "GPU-8932f937-d72c-4106-c12f-20bd9faed9f6"} as {@code nvidia-smi -L} prints it, or a
 * {@code "MIG-..."} instance name). Anything else is {@link Invalid}, negative numbers included.
 *
 * <p>Parsing is pure and total: it never throws, and every input yields exactly one kind.
 */
public sealed interface GpuAddress permits GpuAddress.Ordinal, GpuAddress.PciBus, GpuAddress.Uuid, GpuAddress.Invalid {

    /** The text as given, trimmed. */
    String text();

    /** A non-negative device ordinal. */
    record Ordinal(String text, int index) implements GpuAddress {}

    /** A PCI bus id; {@code busId} is in the normalized form "0000:3b:00.0" (see {@link #normalizePciBusId}). */
    record PciBus(String text, String busId) implements GpuAddress {}

    /**
     * A GPU or MIG UUID; {@code uuid} keeps the upper-case "GPU-"/"MIG-" prefix and lower-cases
     * the rest, which is how nvidia-smi and {@code cuDeviceGetUuid} (as formatted by Attune) spell
     * it. A prefix of a UUID is accepted, as the CUDA driver accepts abbreviated UUIDs.
     */
    record Uuid(String text, String uuid) implements GpuAddress {

        /** Whether this (possibly abbreviated) UUID names the device whose full UUID is {@code deviceUuid}. */
        public boolean matches(String deviceUuid) {
            return deviceUuid != null
                    && !deviceUuid.isEmpty()
                    && normalizeUuid(deviceUuid).startsWith(uuid);
        }

        /**
         * Whether this names a MIG instance: {@code "MIG-<uuid>"} as nvidia-smi -L prints it since
         * R470, or the older {@code "MIG-GPU-<gpu uuid>/<gi>/<ci>"}.
         */
        public boolean mig() {
            return uuid.startsWith("MIG-");
        }

        /**
         * Whether this and {@code other} may name the same device: one is the other or an
         * abbreviation of it (the driver accepts abbreviated UUIDs in either place).
         */
        public boolean overlaps(Uuid other) {
            return other != null && (uuid.startsWith(other.uuid) || other.uuid.startsWith(uuid));
        }
    }

    /** Text that names no GPU; {@code why} says what is wrong with it. */
    record Invalid(String text, String why) implements GpuAddress {}

    /** PCI bus id: optional domain (1 to 8 hex digits), bus, device, function. */
    Pattern PCI = Pattern.compile("(?:([0-9a-fA-F]{1,8}):)?([0-9a-fA-F]{1,2}):([0-9a-fA-F]{1,2})\\.([0-7])");

    /** Classifies {@code text}; {@code null} and blank text are {@link Invalid}. */
    static GpuAddress parse(String text) {
        String t = text == null ? "" : text.trim();
        if (t.isEmpty()) {
            return new Invalid(t, "empty entry");
        }
        if (t.chars().allMatch(Character::isDigit)) {
            if (t.length() > 9) {
                return new Invalid(t, "ordinal out of range");
            }
            return new Ordinal(t, Integer.parseInt(t));
        }
        if (t.startsWith("-") && t.length() > 1 && t.substring(1).chars().allMatch(Character::isDigit)) {
            return new Invalid(t, "negative ordinal");
        }
        String upper = t.toUpperCase(Locale.ROOT);
        if ((upper.startsWith("GPU-") || upper.startsWith("MIG-")) && t.length() > 4) {
            return new Uuid(t, normalizeUuid(t));
        }
        Optional<String> bus = normalizePciBusId(t);
        if (bus.isPresent()) {
            return new PciBus(t, bus.get());
        }
        return new Invalid(t, "neither an ordinal, a PCI bus id nor a GPU UUID");
    }

    /**
     * The driver's form of a PCI bus id: lower case, a domain of at least four hex digits, two
     * each for bus and device, one for the function ("0000:3b:00.0"). "00000000:3B:00.0" and
     * "3b:00.0" both become "0000:3b:00.0". Empty when {@code text} is not a PCI bus id.
     */
    static Optional<String> normalizePciBusId(String text) {
        if (text == null) {
            return Optional.empty();
        }
        Matcher m = PCI.matcher(text.trim());
        if (!m.matches()) {
            return Optional.empty();
        }
        long domain = m.group(1) == null ? 0 : Long.parseLong(m.group(1), 16);
        return Optional.of(String.format(
                Locale.ROOT,
                "%04x:%02x:%02x.%s",
                domain,
                Integer.parseInt(m.group(2), 16),
                Integer.parseInt(m.group(3), 16),
                m.group(4)));
    }

    /** "gpu-ABC..." becomes "GPU-abc..."; other text is lower-cased after its first four characters. */
    static String normalizeUuid(String text) {
        String t = text.trim();
        if (t.length() < 4) {
            return t.toLowerCase(Locale.ROOT);
        }
        return t.substring(0, 4).toUpperCase(Locale.ROOT) + t.substring(4).toLowerCase(Locale.ROOT);
    }
}

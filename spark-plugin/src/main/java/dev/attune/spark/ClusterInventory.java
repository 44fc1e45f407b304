package dev.attune.spark;

import dev.attune.runtime.inventory.DeviceEntry;
import dev.attune.runtime.inventory.ExecutorInventory;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The driver's view of the cluster: the latest inventory of every executor, and the table the
 * driver log shows. Readable from the driver (tests, the scoring job's summary).
 *
 * <p>Threading: updated by the driver plugin's RPC thread, read from any thread.
 */
public final class ClusterInventory {

    private static final Map<String, ExecutorInventory> LATEST = new ConcurrentHashMap<>();
    /** The table as someone last showed it to the user (the scoring job's summary), or null. */
    private static volatile String shown;

    private ClusterInventory() {}

    static void update(ExecutorInventory inv) {
        LATEST.put(inv.executorId(), inv);
    }

    /** Drops a removed executor; whether it was in the table. */
    static boolean remove(String executorId) {
        return LATEST.remove(executorId) != null;
    }

    static void clear() {
        LATEST.clear();
        shown = null;
    }

    /**
     * The table, for a caller that shows it to the user (the scoring job prints it in its summary);
     * the driver's closing log line then leaves it out unless it changed afterwards.
     */
    public static String showTable() {
        String t = table();
        shown = t;
        return t;
    }

    /** Whether {@code table} is what was last shown with {@link #showTable}. */
    static boolean alreadyShown(String table) {
        return table.equals(shown);
    }

    /** Executor id to its latest inventory, sorted by id. */
    public static Map<String, ExecutorInventory> executors() {
        return new TreeMap<>(LATEST);
    }

    /** The cluster table: one line per device of every executor. */
    public static String table() {
        StringBuilder b = new StringBuilder();
        b.append(String.format(
                "%-9s %-34s %-4s %-13s %-5s %-6s %-6s %s%n",
                "executor", "device", "cc", "path", "dtype", "batch", "loads", "reason"));
        for (ExecutorInventory e : executors().values()) {
            for (DeviceEntry d : e.devices()) {
                b.append(String.format(
                        "%-9s %-34s %-4s %-13s %-5s %-6d %-6d %s%n",
                        e.executorId(),
                        d.label(),
                        d.capability().isEmpty() ? "-" : d.capability(),
                        d.path(),
                        d.dtype(),
                        d.batchRows(),
                        e.modelLoads(),
                        d.reason()));
            }
        }
        return b.toString();
    }
}

package dev.attune.kernels.device;

/**
 * One device an executor can compute on: a GPU (real or simulated) or the CPU.
 *
 * @param kind              GPU or CPU
 * @param name              product name as the driver reports it, e.g. "Tesla T4"
 * @param ordinal           the driver's device ordinal (after CUDA_VISIBLE_DEVICES); -1 for the CPU
 * @param pciBusId          PCI bus id in the driver's form "0000:3b:00.0", or "" where unknown
 * @param capability        compute capability; {@link ComputeCapability#NONE} for the CPU
 * @param totalMemory       bytes of device memory (the JVM heap limit for the CPU)
 * @param freeMemory        bytes free when probed
 * @param multiprocessors   streaming multiprocessors (cores for the CPU)
 * @param sharedMemoryPerBlock largest shared memory a block may opt in to, bytes; 0 for the CPU
 * @param driverVersion     CUDA driver API version, e.g. 12060 for 12.6; 0 for the CPU
 * @param simulated         true when the figures describe a device that is not there and the
 *                          arithmetic runs on the CPU under the device's precision rules
 */
public record DeviceInfo(
        Kind kind,
        String name,
        int ordinal,
        String pciBusId,
        ComputeCapability capability,
        long totalMemory,
        long freeMemory,
        int multiprocessors,
        int sharedMemoryPerBlock,
        int driverVersion,
        boolean simulated) {

    /** What kind of processor a device is. */
    public enum Kind {
        GPU,
        CPU
    }

    public DeviceInfo {
        if (name == null || name.isBlank()) {
            throw new IllegalArgumentException("a device needs a name");
        }
        if (totalMemory < 0 || freeMemory < 0 || freeMemory > totalMemory) {
            throw new IllegalArgumentException(
                    "device " + name + ": free memory " + freeMemory + " must lie within 0.." + totalMemory);
        }
        pciBusId = pciBusId == null ? "" : pciBusId;
    }

    /** The CPU of this JVM: its cores and its heap limit. */
    public static DeviceInfo cpu() {
        Runtime rt = Runtime.getRuntime();
        long max = rt.maxMemory();
        long free = Math.max(0, max - (rt.totalMemory() - rt.freeMemory()));
        return new DeviceInfo(
                Kind.CPU,
                "cpu",
                -1,
                "",
                ComputeCapability.NONE,
                max,
                Math.min(free, max),
                rt.availableProcessors(),
                0,
                0,
                false);
    }

    public boolean isGpu() {
        return kind == Kind.GPU;
    }

    /** A short label for logs and output rows: "cpu", "cuda:0 NVIDIA A100-SXM4-80GB", "T4 (simulated)". */
    public String label() {
        if (kind == Kind.CPU) {
            return "cpu";
        }
        return simulated ? name + " (simulated)" : "cuda:" + ordinal + " " + name;
    }

    /** The same device with a different free-memory reading. */
    public DeviceInfo withFreeMemory(long free) {
        return new DeviceInfo(
                kind,
                name,
                ordinal,
                pciBusId,
                capability,
                totalMemory,
                Math.min(free, totalMemory),
                multiprocessors,
                sharedMemoryPerBlock,
                driverVersion,
                simulated);
    }

    /** The driver version as "12.6". */
    public String driverVersionString() {
        return driverVersion <= 0 ? "-" : (driverVersion / 1000) + "." + (driverVersion % 1000) / 10;
    }
}

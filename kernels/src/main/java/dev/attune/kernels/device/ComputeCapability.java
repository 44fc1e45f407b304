package dev.attune.kernels.device;

/**
 * An NVIDIA compute capability, for example 7.5 (Turing, T4) or 8.0 (Ampere, A100). The CPU has
 * none; {@link #NONE} stands for it.
 */
public record ComputeCapability(int major, int minor) implements Comparable<ComputeCapability> {

    public static final ComputeCapability NONE = new ComputeCapability(0, 0);
    public static final ComputeCapability SM60 = new ComputeCapability(6, 0);
    public static final ComputeCapability SM70 = new ComputeCapability(7, 0);
    public static final ComputeCapability SM75 = new ComputeCapability(7, 5);
    public static final ComputeCapability SM80 = new ComputeCapability(8, 0);
    public static final ComputeCapability SM90 = new ComputeCapability(9, 0);

    public ComputeCapability {
        if (major < 0 || minor < 0 || minor > 9) {
            throw new IllegalArgumentException("not a compute capability: " + major + "." + minor);
        }
    }

    public boolean atLeast(ComputeCapability other) {
        return compareTo(other) >= 0;
    }

    /** The {@code sm_XY} name, e.g. sm_75. */
    public String smName() {
        return "sm_" + major + minor;
    }

    @Override
    public int compareTo(ComputeCapability o) {
        return major != o.major ? Integer.compare(major, o.major) : Integer.compare(minor, o.minor);
    }

    @Override
    public String toString() {
        return major + "." + minor;
    }
}

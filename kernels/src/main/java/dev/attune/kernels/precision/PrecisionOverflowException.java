package dev.attune.kernels.precision;

/**
 * A finite value left the range of the compute dtype (fp16 ends at 65504). The runner re-runs
 * the batch in fp32 and counts it; it is never silently turned into infinities.
 */
public class PrecisionOverflowException extends RuntimeException {

    public PrecisionOverflowException(String message) {
        super(message);
    }
}

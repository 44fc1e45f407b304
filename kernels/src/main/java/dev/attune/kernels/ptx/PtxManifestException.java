package dev.attune.kernels.ptx;

/**
 * The shipped PTX cannot be used: the manifest or a module's PTX is missing from the classpath,
 * unreadable, or does not match what the manifest says. The message names the resource and what
 * is wrong with it.
 */
public final class PtxManifestException extends RuntimeException {

    private static final long serialVersionUID = 1L;

    public PtxManifestException(String message) {
        super(message);
    }

    public PtxManifestException(String message, Throwable cause) {
        super(message, cause);
    }
}

package dev.attune.kernels.cuda;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.Arrays;

/**
 * The shipped PTX modules, read from the classpath resources
 * {@code dev/attune/kernels/ptx/<module>.ptx}. Pure (no JCuda), thread-safe.
 */
public final class PtxResources {

    /** Resource folder of the modules, without a leading slash. */
    public static final String FOLDER = "dev/attune/kernels/ptx/";

    private PtxResources() {}

    /** The resource name of a module. */
    public static String resource(String module) {
        return FOLDER + module + ".ptx";
    }

    /**
     * The module's PTX text, NUL-terminated as {@code cuModuleLoadDataEx} wants it.
     *
     * @throws KernelUnavailableException when the resource is absent (the jar was built without the PTX)
     */
    public static byte[] read(String module, String device) {
        ClassLoader loader = PtxResources.class.getClassLoader();
        try (InputStream in = loader == null
                ? ClassLoader.getSystemResourceAsStream(resource(module))
                : loader.getResourceAsStream(resource(module))) {
            if (in == null) {
                throw new KernelUnavailableException(
                        "PTX module '" + module + "' is not on the classpath (resource "
                                + resource(module)
                                + " is missing: the kernels jar was built without its PTX); needed on "
                                + device,
                        module,
                        CudaException.NO_RESULT,
                        "",
                        device,
                        null);
            }
            byte[] text = in.readAllBytes();
            return Arrays.copyOf(text, text.length + 1);
        } catch (IOException e) {
            throw new UncheckedIOException("could not read " + resource(module), e);
        }
    }
}

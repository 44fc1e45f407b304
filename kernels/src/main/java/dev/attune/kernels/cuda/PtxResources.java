package dev.attune.kernels.cuda;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;

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
     * The module's PTX text in a new direct buffer, NUL-terminated as {@code cuModuleLoadDataEx}
     * wants PTX (it reads the image as a C string): position 0, limit the text's length plus one,
     * the last byte 0.
     *
     * <p>Direct, because JCuda hands a direct buffer's address to the driver as it is
     * ({@code GetDirectBufferAddress}), whereas a {@code byte[]} is pinned with
     * {@code GetPrimitiveArrayCritical} for the whole call, and a JIT of a large module (seconds)
     * inside that critical section holds off garbage collection in the entire JVM. The buffer's
     * native memory is freed when the buffer becomes unreachable; the caller must keep it
     * reachable until the driver call returns (passing it through a {@code jcuda.Pointer}
     * argument does).
     *
     * @throws KernelUnavailableException when the resource is absent (the jar was built without the PTX)
     */
    public static ByteBuffer read(String module, String device) {
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
            ByteBuffer image = ByteBuffer.allocateDirect(text.length + 1);
            image.put(text).put((byte) 0).flip();
            return image;
        } catch (IOException e) {
            throw new UncheckedIOException("could not read " + resource(module), e);
        }
    }
}

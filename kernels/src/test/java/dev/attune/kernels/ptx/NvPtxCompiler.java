package dev.attune.kernels.ptx;

import dev.attune.kernels.cuda.NativeLibraryStaging;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Optional;
import jcuda.CudaException;
import jcuda.JCudaVersion;
import jcuda.LibUtils;
import jcuda.nvptxcompiler.JNvPTXCompiler;
import jcuda.nvptxcompiler.nvPTXCompilerHandle;

/**
 * JCuda's in-process PTX assembler (nvPTXCompiler 12.0: PTX ISA up to 8.0, sm_50 to sm_90, no GPU
 * needed), for tests. Its JNI library is staged into {@code java.io.tmpdir} the way
 * {@link dev.attune.kernels.cuda.JCudaDeviceQuery} stages the driver's, before the first call
 * loads it. Not thread-safe: callers serialize.
 */
final class NvPtxCompiler {

    private static boolean initialized;
    private static String stagingNote = "";

    private NvPtxCompiler() {}

    /** The compiler's version, e.g. "12.0". */
    static String version() {
        init();
        int[] major = new int[1];
        int[] minor = new int[1];
        JNvPTXCompiler.nvPTXCompilerGetVersion(major, minor);
        return major[0] + "." + minor[0];
    }

    /** Empty when {@code ptx} assembles for {@code target} (e.g. "sm_60"), else the error and the compiler's log. */
    static Optional<String> assemble(String ptx, String target) {
        init();
        byte[] text = ptx.getBytes(StandardCharsets.UTF_8);
        byte[] terminated = Arrays.copyOf(text, text.length + 1);
        nvPTXCompilerHandle handle = new nvPTXCompilerHandle();
        JNvPTXCompiler.nvPTXCompilerCreate(handle, text.length, terminated);
        try {
            JNvPTXCompiler.nvPTXCompilerCompile(handle, 1, new String[] {"--gpu-name=" + target});
            long[] size = new long[1];
            JNvPTXCompiler.nvPTXCompilerGetCompiledProgramSize(handle, size);
            return size[0] > 0 ? Optional.empty() : Optional.of("nvPTXCompiler produced an empty program");
        } catch (CudaException e) {
            return Optional.of(e.getMessage() + "\n" + errorLog(handle));
        } finally {
            JNvPTXCompiler.nvPTXCompilerDestroy(handle);
        }
    }

    private static String errorLog(nvPTXCompilerHandle handle) {
        try {
            long[] size = new long[1];
            JNvPTXCompiler.nvPTXCompilerGetErrorLogSize(handle, size);
            byte[] log = new byte[(int) size[0]];
            JNvPTXCompiler.nvPTXCompilerGetErrorLog(handle, log);
            return new String(log, StandardCharsets.UTF_8).replace("\0", "").strip();
        } catch (CudaException e) {
            return "(no error log: " + e.getMessage() + ")";
        }
    }

    private static void init() {
        if (initialized) {
            return;
        }
        String file = LibUtils.createLibraryFileName(
                LibUtils.createPlatformLibraryName("JNvPTXCompiler-" + JCudaVersion.get()));
        stagingNote = NativeLibraryStaging.stage(
                Path.of(System.getProperty("java.io.tmpdir"), file),
                () -> LibUtils.class.getResourceAsStream("/lib/" + file));
        try {
            JNvPTXCompiler.setExceptionsEnabled(true); // loads the JNI library
        } catch (LinkageError e) {
            throw new IllegalStateException(
                    "cannot load JCuda's nvPTXCompiler (" + file + ")"
                            + (stagingNote.isEmpty() ? "" : "; " + stagingNote),
                    e);
        }
        initialized = true;
    }
}

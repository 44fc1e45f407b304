package dev.attune.kernels.emulation;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * Builds the host emulator of the CUDA kernels ({@code kernels/src/test/emulation}) into
 * {@code kernels/target/emulation/}: one executable per PTX module, compiled from the module's
 * unchanged {@code .cu} with g++ (C++20) and the CUDA headers' host paths.
 *
 * <p>Lifecycle: the first {@link #executable} call of a JVM checks the toolchain and builds what
 * is stale; later calls reuse the result. A build is stale when the SHA-256 over the emulator
 * sources, the CUDA sources, the compiler flags and {@code g++ --version} differs from the stamp
 * written by the last successful build. Without g++ or the CUDA headers the calling test is
 * skipped (JUnit assumption) with a message saying what is missing; a compile error fails it.
 *
 * <p>Threading: {@link #executable} is synchronized; the executables themselves are independent
 * processes.
 */
final class KernelEmulator {

    static final List<String> MODULES = List.of(
            "flash_sm80",
            "flash_sm75",
            "mem_efficient",
            "math_attention",
            "gemm_sm80",
            "gemm_sm75",
            "gemm_simt",
            "encoder_ops");

    private static Path built; // target/emulation once built
    private static String unavailable; // why the emulator cannot be built here, once known

    private KernelEmulator() {}

    /** The emulator of {@code module}, built if needed; skips the calling test where it cannot be. */
    static synchronized Path executable(String module) {
        if (built == null && unavailable == null) {
            build();
        }
        assumeTrue(unavailable == null, () -> "CUDA kernels are not emulated on this machine: " + unavailable);
        return built.resolve(module);
    }

    static Path kernelsDir() {
        String basedir = System.getProperty("basedir");
        for (Path c : new Path[] {
            basedir == null ? null : Path.of(basedir),
            Path.of("").toAbsolutePath(),
            Path.of("kernels").toAbsolutePath()
        }) {
            if (c != null && Files.isRegularFile(c.resolve("src/main/cuda/modules.tsv"))) {
                return c;
            }
        }
        throw new IllegalStateException(
                "cannot find kernels/src/main/cuda from " + Path.of("").toAbsolutePath());
    }

    private static Path cudaInclude() {
        for (String env : new String[] {"CUDA_HOME", "CUDA_PATH"}) {
            String home = System.getenv(env);
            if (home != null && Files.isRegularFile(Path.of(home, "include", "cuda_fp16.h"))) {
                return Path.of(home, "include");
            }
        }
        Path standard = Path.of("/usr/local/cuda/include");
        return Files.isRegularFile(standard.resolve("cuda_fp16.h")) ? standard : null;
    }

    private static void build() {
        try {
            Path include = cudaInclude();
            if (include == null) {
                unavailable = "no CUDA headers (cuda_fp16.h) under $CUDA_HOME/include, $CUDA_PATH/include or "
                        + "/usr/local/cuda/include";
                return;
            }
            Result version = exec(List.of("g++", "--version"), null);
            if (version == null || version.status != 0) {
                unavailable = "g++ is not on PATH";
                return;
            }
            Path kernels = kernelsDir();
            Path emulation = kernels.resolve("src/test/emulation");
            Path cuda = kernels.resolve("src/main/cuda");
            Path out = kernels.resolve("target/emulation");
            Files.createDirectories(out);
            List<String> flags = List.of(
                    "-std=c++20",
                    "-O1",
                    "-Wall",
                    "-Wextra",
                    "-Wno-unused-parameter",
                    "-Wno-unknown-pragmas",
                    "-Wno-clobbered",
                    "-fno-extern-tls-init",
                    "-I" + emulation.resolve("include"),
                    "-I" + cuda,
                    "-I" + include);

            String stamp = stamp(version.output, flags, emulation, cuda);
            Path stampFile = out.resolve("build.sha256");
            boolean fresh = Files.isRegularFile(stampFile)
                    && Files.readString(stampFile).strip().equals(stamp)
                    && MODULES.stream().allMatch(m -> Files.isExecutable(out.resolve(m)));
            if (!fresh) {
                Files.deleteIfExists(stampFile);
                Path probe = out.resolve("probe.cpp");
                Files.writeString(
                        probe,
                        "#include <cuda_fp16.h>\n#include <cuda_bf16.h>\n#include <barrier>\n"
                                + "int main() { return __half2float(__float2half_rn(1.0f)) == 1.0f ? 0 : 1; }\n");
                List<String> probeCmd = new ArrayList<>(List.of("g++", "-std=c++20", "-fsyntax-only"));
                probeCmd.addAll(flags.subList(flags.size() - 1, flags.size()));
                probeCmd.add(probe.toString());
                Result probed = exec(probeCmd, null);
                if (probed.status != 0) {
                    unavailable =
                            "g++ cannot compile C++20 with the CUDA headers of " + include + ":\n" + probed.output;
                    return;
                }
                compileAll(flags, emulation, out);
                Files.writeString(stampFile, stamp + "\n");
            }
            built = out;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    private static void compileAll(List<String> flags, Path emulation, Path out)
            throws IOException, InterruptedException {
        List<List<String>> objects = new ArrayList<>();
        objects.add(compile(flags, false, emulation.resolve("runtime.cpp"), out.resolve("runtime.o")));
        objects.add(compile(flags, false, emulation.resolve("launcher.cpp"), out.resolve("launcher.o")));
        for (String m : MODULES) {
            objects.add(compile(flags, true, emulation.resolve("modules/" + m + ".cpp"), out.resolve(m + ".o")));
        }
        ExecutorService pool = Executors.newFixedThreadPool(2);
        try {
            List<Future<Result>> results = new ArrayList<>();
            for (List<String> cmd : objects) {
                results.add(pool.submit(() -> exec(cmd, null)));
            }
            for (int i = 0; i < results.size(); i++) {
                Result r = get(results.get(i));
                if (r.status != 0) {
                    throw new IllegalStateException(
                            "emulator compile failed: " + String.join(" ", objects.get(i)) + "\n" + r.output);
                }
            }
            List<Future<Result>> links = new ArrayList<>();
            List<List<String>> linkCmds = new ArrayList<>();
            for (String m : MODULES) {
                List<String> cmd = List.of(
                        "g++",
                        out.resolve("runtime.o").toString(),
                        out.resolve("launcher.o").toString(),
                        out.resolve(m + ".o").toString(),
                        "-o",
                        out.resolve(m).toString());
                linkCmds.add(cmd);
                links.add(pool.submit(() -> exec(cmd, null)));
            }
            for (int i = 0; i < links.size(); i++) {
                Result r = get(links.get(i));
                if (r.status != 0) {
                    throw new IllegalStateException(
                            "emulator link failed: " + String.join(" ", linkCmds.get(i)) + "\n" + r.output);
                }
            }
        } finally {
            pool.shutdown();
            pool.awaitTermination(1, TimeUnit.MINUTES);
        }
    }

    private static List<String> compile(List<String> flags, boolean kernelSource, Path source, Path object) {
        List<String> cmd = new ArrayList<>(List.of("g++"));
        cmd.addAll(flags);
        if (kernelSource) {
            cmd.add("-include");
            cmd.add("attune_emulation/prelude.h");
        }
        cmd.addAll(List.of("-c", source.toString(), "-o", object.toString()));
        return cmd;
    }

    private static Result get(Future<Result> f) throws InterruptedException {
        try {
            return f.get();
        } catch (java.util.concurrent.ExecutionException e) {
            throw new IllegalStateException(e.getCause());
        }
    }

    private static String stamp(String compiler, List<String> flags, Path... dirs) throws IOException {
        try {
            MessageDigest sha = MessageDigest.getInstance("SHA-256");
            sha.update(compiler.getBytes(StandardCharsets.UTF_8));
            sha.update(String.join(" ", flags).getBytes(StandardCharsets.UTF_8));
            for (Path dir : dirs) {
                List<Path> files;
                try (Stream<Path> walk = Files.walk(dir)) {
                    files = walk.filter(Files::isRegularFile).sorted().toList();
                }
                for (Path f : files) {
                    sha.update(dir.relativize(f).toString().getBytes(StandardCharsets.UTF_8));
                    sha.update(Files.readAllBytes(f));
                }
            }
            return HexFormat.of().formatHex(sha.digest());
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    record Result(int status, String output) {}

    /** Runs a command, output and errors merged; null if the program cannot be started. */
    static Result exec(List<String> command, Path workDir) throws IOException, InterruptedException {
        ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(true);
        if (workDir != null) {
            pb.directory(workDir.toFile());
        }
        Process p;
        try {
            p = pb.start();
        } catch (IOException e) {
            if (command.get(0).equals("g++")) {
                return null;
            }
            throw e;
        }
        String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        return new Result(p.waitFor(), output);
    }
}

package dev.attune.kernels.emulation;

import static org.junit.jupiter.api.Assertions.fail;

import dev.attune.kernels.cuda.launch.LaunchShape;
import dev.attune.kernels.precision.HalfFloats;
import dev.attune.kernels.select.ComputeDtype;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * One run of a module's emulator: device buffers, then launches in order, exactly as the JCuda
 * backend would issue them (a {@link LaunchShape} from the launch classes and the kernel's
 * arguments). Buffers travel through files in a temporary directory, little-endian.
 *
 * <p>Arguments of {@link #launch}: a {@link Buf} (or {@link Buf#at} for an element offset) is a
 * device pointer, {@code null} a null pointer, and Integer, Long and Float are {@code int},
 * {@code long long} and {@code float}; the emulator checks them against the kernel's C++
 * signature. Output buffers start as poison (NaN in every float format), so an element a kernel
 * fails to write reads back as NaN.
 *
 * <p>Not thread-safe; one instance per run.
 */
final class EmulatedRun {

    /** A device buffer of {@code count} elements of a dtype (or of ints). */
    final class Buf {
        final int index;
        final ComputeDtype dtype; // null: int32
        final int count;
        final String mode;
        private final Path file;

        private Buf(ComputeDtype dtype, int count, String mode, ByteBuffer initial) {
            this.index = buffers.size();
            this.dtype = dtype;
            this.count = count;
            this.mode = mode;
            this.file = dir.resolve("buf" + index + ".bin");
            if (initial != null) {
                write(file, initial);
            }
            buffers.add(this);
        }

        int elementBytes() {
            return dtype == null || dtype == ComputeDtype.FP32 ? 4 : 2;
        }

        /** A pointer {@code elements} elements into this buffer. */
        Offset at(int elements) {
            return new Offset(this, (long) elements * elementBytes());
        }

        /** The buffer after the run, converted to fp32. */
        float[] floats() {
            ByteBuffer b = read(file, count * elementBytes());
            float[] r = new float[count];
            for (int i = 0; i < count; i++) {
                r[i] = switch (dtype) {
                    case FP32 -> b.getFloat();
                    case FP16 -> HalfFloats.fp16ToFloat(b.getShort());
                    case BF16 -> HalfFloats.bf16ToFloat(b.getShort());
                };
            }
            return r;
        }

        int[] ints() {
            ByteBuffer b = read(file, count * 4);
            int[] r = new int[count];
            for (int i = 0; i < count; i++) {
                r[i] = b.getInt();
            }
            return r;
        }
    }

    record Offset(Buf buffer, long bytes) {}

    private final String module;
    private final Path dir;
    private final List<Buf> buffers = new ArrayList<>();
    private final StringBuilder launches = new StringBuilder();
    private long seed = 1;
    private boolean cpAsyncAtIssue;

    EmulatedRun(String module) {
        this.module = module;
        try {
            this.dir = Files.createTempDirectory("attune-emu-");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Values rounded to the dtype (round to nearest even), as a device buffer. */
    Buf in(ComputeDtype dtype, float[] values) {
        return new Buf(dtype, values.length, "in", encode(dtype, values));
    }

    Buf inout(ComputeDtype dtype, float[] values) {
        return new Buf(dtype, values.length, "inout", encode(dtype, values));
    }

    Buf out(ComputeDtype dtype, int count) {
        return new Buf(dtype, count, "out", null);
    }

    Buf ints(int[] values) {
        ByteBuffer b = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (int v : values) {
            b.putInt(v);
        }
        return new Buf(null, values.length, "in", b.flip());
    }

    Buf intsInout(int[] values) {
        Buf in = ints(values);
        buffers.remove(buffers.size() - 1);
        return new Buf(null, values.length, "inout", read(in.file, values.length * 4));
    }

    /** The warp order seed of the emulator's scheduler. */
    EmulatedRun seed(long seed) {
        this.seed = seed;
        return this;
    }

    /**
     * Where cp.async copies land: at issue (exposes a prefetch that overwrites a stage other warps
     * still read, i.e. a missing barrier) or, by default, at the wait that retires them (exposes a
     * read before the wait).
     */
    EmulatedRun cpAsyncAtIssue(boolean atIssue) {
        this.cpAsyncAtIssue = atIssue;
        return this;
    }

    EmulatedRun launch(LaunchShape shape, Object... args) {
        launches.append("launch ")
                .append(shape.kernel())
                .append(' ')
                .append(shape.gridX())
                .append(' ')
                .append(shape.gridY())
                .append(' ')
                .append(shape.gridZ())
                .append(' ')
                .append(shape.block())
                .append(' ')
                .append(shape.sharedBytes())
                .append('\n');
        for (Object a : args) {
            launches.append("arg ");
            if (a == null) {
                launches.append("ptr null");
            } else if (a instanceof Buf b) {
                launches.append("ptr ").append(b.index);
            } else if (a instanceof Offset o) {
                launches.append("ptr ").append(o.buffer().index).append('+').append(o.bytes());
            } else if (a instanceof Integer i) {
                launches.append("i32 ").append(i);
            } else if (a instanceof Long l) {
                launches.append("i64 ").append(l);
            } else if (a instanceof Float f) {
                launches.append("f32 ").append(Integer.toHexString(Float.floatToRawIntBits(f)));
            } else {
                throw new IllegalArgumentException("no kernel argument type for " + a.getClass());
            }
            launches.append('\n');
        }
        launches.append("end\n");
        return this;
    }

    /** Runs every launch; fails the test with the emulator's message on any kernel error. */
    void run() {
        Path exe = KernelEmulator.executable(module);
        StringBuilder request = new StringBuilder("seed ")
                .append(seed)
                .append('\n')
                .append("cp_async ")
                .append(cpAsyncAtIssue ? "issue" : "wait")
                .append('\n');
        for (Buf b : buffers) {
            request.append("buffer ")
                    .append(b.mode)
                    .append(' ')
                    .append((long) b.count * b.elementBytes())
                    .append(' ')
                    .append(b.file)
                    .append('\n');
        }
        request.append(launches);
        try {
            Path req = dir.resolve("request.txt");
            Files.writeString(req, request);
            KernelEmulator.Result r = KernelEmulator.exec(List.of(exe.toString(), req.toString()), dir);
            if (r.status() != 0) {
                fail(module + " emulator exited with " + r.status() + ":\n" + r.output() + "request:\n" + request);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    /** Removes the run's files. */
    void delete() {
        try (var files = Files.list(dir)) {
            for (Path f : files.toList()) {
                Files.delete(f);
            }
            Files.delete(dir);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static ByteBuffer encode(ComputeDtype dtype, float[] values) {
        ByteBuffer b = ByteBuffer.allocate(values.length * (dtype == ComputeDtype.FP32 ? 4 : 2))
                .order(ByteOrder.LITTLE_ENDIAN);
        for (float v : values) {
            switch (dtype) {
                case FP32 -> b.putFloat(v);
                case FP16 -> b.putShort(HalfFloats.floatToFp16(v));
                case BF16 -> b.putShort(HalfFloats.floatToBf16(v));
            }
        }
        return b.flip();
    }

    private static void write(Path file, ByteBuffer data) {
        try {
            Files.write(file, java.util.Arrays.copyOfRange(data.array(), data.position(), data.limit()));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static ByteBuffer read(Path file, int bytes) {
        try {
            byte[] all = Files.readAllBytes(file);
            if (all.length != bytes) {
                throw new IllegalStateException(file + " holds " + all.length + " bytes, expected " + bytes);
            }
            return ByteBuffer.wrap(all).order(ByteOrder.LITTLE_ENDIAN);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}

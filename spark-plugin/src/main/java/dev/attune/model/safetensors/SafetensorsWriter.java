package dev.attune.model.safetensors;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.attune.kernels.precision.HalfFloats;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import java.util.function.Supplier;

/**
 * Writes tensors as a safetensors file, atomically: the file appears under its final name only
 * once it is complete, so a reader never maps a half-written file.
 *
 * <p>Values are given as fp32 and stored as F32, F16 or BF16, per tensor or by the writer's
 * default dtype, converted with round-to-nearest-even ({@link HalfFloats}). A value that is finite
 * in fp32 but overflows F16 is refused rather than written as infinity.
 *
 * <p>Tensors may be given eagerly (a {@code float[]}) or lazily (a {@link Supplier}): the header is
 * computed from the shapes alone, then each supplier is called once, in the order the tensors were
 * added, and its array is streamed to disk and dropped before the next one is called. A
 * checkpoint of billions of parameters is thus written holding one tensor at a time.
 *
 * <p>Failure: any exception (an I/O error, a supplier that throws or returns the wrong number of
 * elements, an F16 overflow) deletes the temporary file and leaves {@code target} as it was.
 *
 * <p>Threading: not thread-safe; build and write from one thread. {@link #write} may be called
 * more than once (lazy tensors are then computed again).
 */
public final class SafetensorsWriter {

    private record Entry(DType dtype, long[] shape, long elements, Supplier<float[]> data) {
        long bytes() {
            return elements * dtype.bytes();
        }
    }

    private final DType defaultDtype;
    private final Map<String, Entry> tensors = new LinkedHashMap<>();
    private final Map<String, String> metadata = new LinkedHashMap<>();

    /** A writer that stores tensors as F32 unless told otherwise. */
    public SafetensorsWriter() {
        this(DType.F32);
    }

    /** A writer that stores tensors added without a dtype as {@code defaultDtype}. */
    public SafetensorsWriter(DType defaultDtype) {
        this.defaultDtype = Objects.requireNonNull(defaultDtype, "defaultDtype");
    }

    /** Adds a tensor stored in the writer's default dtype. */
    public SafetensorsWriter add(String name, long[] shape, float[] data) {
        return add(name, defaultDtype, shape, data);
    }

    /** Adds a tensor stored as {@code dtype}. The array is kept, not copied, until {@link #write}. */
    public SafetensorsWriter add(String name, DType dtype, long[] shape, float[] data) {
        Objects.requireNonNull(data, "data");
        long n = elements(name, shape);
        if (n != data.length) {
            throw new IllegalArgumentException(
                    "tensor '" + name + "': shape holds " + n + " elements, data " + data.length);
        }
        return put(name, new Entry(dtype, shape.clone(), n, () -> data));
    }

    /**
     * Adds a tensor whose values are computed only when the file is written: {@code data} is
     * called once per {@link #write} and must return exactly the shape's number of elements.
     */
    public SafetensorsWriter add(String name, DType dtype, long[] shape, Supplier<float[]> data) {
        Objects.requireNonNull(data, "data");
        return put(name, new Entry(dtype, shape.clone(), elements(name, shape), data));
    }

    public SafetensorsWriter metadata(String key, String value) {
        metadata.put(key, value);
        return this;
    }

    /** Bytes of the data section (the sum of the tensors' sizes), known before anything is computed. */
    public long dataBytes() {
        long sum = 0;
        for (Entry e : tensors.values()) {
            sum += e.bytes();
        }
        return sum;
    }

    private SafetensorsWriter put(String name, Entry e) {
        Objects.requireNonNull(e.dtype(), "dtype");
        if (tensors.putIfAbsent(name, e) != null) {
            throw new IllegalArgumentException("tensor '" + name + "' added twice");
        }
        return this;
    }

    private static long elements(String name, long[] shape) {
        Objects.requireNonNull(name, "name");
        long n = 1;
        for (long d : shape) {
            if (d < 0) {
                throw new IllegalArgumentException(
                        "tensor '" + name + "': negative dimension in shape " + java.util.Arrays.toString(shape));
            }
            n = Math.multiplyExact(n, d);
        }
        if (n > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException(
                    "tensor '" + name + "': " + n + " elements, more than one fp32 array can hold");
        }
        return n;
    }

    public void write(Path target) throws IOException {
        ObjectMapper json = new ObjectMapper();
        ObjectNode header = json.createObjectNode();
        if (!metadata.isEmpty()) {
            ObjectNode m = header.putObject("__metadata__");
            metadata.forEach(m::put);
        }
        long offset = 0;
        for (Map.Entry<String, Entry> e : tensors.entrySet()) {
            ObjectNode t = header.putObject(e.getKey());
            t.put("dtype", e.getValue().dtype().name());
            var shape = t.putArray("shape");
            for (long d : e.getValue().shape()) {
                shape.add(d);
            }
            long bytes = e.getValue().bytes();
            t.putArray("data_offsets").add(offset).add(offset + bytes);
            offset += bytes;
        }
        byte[] h = json.writeValueAsString(header).getBytes(StandardCharsets.UTF_8);
        int padded = (h.length + 7) / 8 * 8; // data section 8-byte aligned, padded with spaces
        Path tmp = Files.createTempFile(target.toAbsolutePath().getParent(), target.getFileName() + ".", ".tmp");
        try (OutputStream out = new java.io.BufferedOutputStream(Files.newOutputStream(tmp), 1 << 20)) {
            ByteBuffer len =
                    ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(padded);
            out.write(len.array());
            out.write(h);
            for (int i = h.length; i < padded; i++) {
                out.write(' ');
            }
            ByteBuffer buf = ByteBuffer.allocate(1 << 16).order(ByteOrder.LITTLE_ENDIAN);
            for (Map.Entry<String, Entry> e : tensors.entrySet()) {
                // The array is a local of this iteration only, so it can be collected once streamed.
                writeData(out, buf, e.getKey(), e.getValue());
            }
            out.write(buf.array(), 0, buf.position());
        } catch (IOException | RuntimeException e) {
            Files.deleteIfExists(tmp);
            throw e;
        }
        Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

    private static void writeData(OutputStream out, ByteBuffer buf, String name, Entry e) throws IOException {
        float[] data = e.data().get();
        if (data == null || data.length != e.elements()) {
            throw new IllegalStateException("tensor '" + name + "': shape holds " + e.elements()
                    + " elements, its supplier gave " + (data == null ? "null" : data.length));
        }
        for (int i = 0; i < data.length; i++) {
            if (buf.remaining() < Float.BYTES) {
                out.write(buf.array(), 0, buf.position());
                buf.clear();
            }
            float f = data[i];
            switch (e.dtype()) {
                case F32 -> buf.putFloat(f);
                case BF16 -> buf.putShort(HalfFloats.floatToBf16(f));
                case F16 -> {
                    short s = HalfFloats.floatToFp16(f);
                    if (Float.isFinite(f) && Float.isInfinite(HalfFloats.fp16ToFloat(s))) {
                        throw new IllegalArgumentException("tensor '" + name + "': element " + i + " = " + f
                                + " overflows F16 (largest finite " + HalfFloats.FP16_MAX + ")");
                    }
                    buf.putShort(s);
                }
                default -> throw new IllegalStateException("unhandled dtype " + e.dtype());
            }
        }
    }
}

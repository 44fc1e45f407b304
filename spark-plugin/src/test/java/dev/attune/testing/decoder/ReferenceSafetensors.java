package dev.attune.testing.decoder;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.HashMap;
import java.util.Iterator;
import java.util.Map;
import java.util.Set;

/**
 * A small safetensors reader for the tests, written apart from Attune's {@code SafetensorsFile}
 * and {@code HalfFloats} so that their decoding (BF16 and F16 in particular) is checked by
 * something that does not share their code.
 *
 * <p>Format: 8-byte little-endian header length N, N bytes of JSON
 * {@code {name: {dtype, shape, data_offsets: [begin, end]}}} (offsets relative to the data section
 * that follows the header), then raw little-endian data. A model directory holds
 * {@code model.safetensors} or shards named by {@code model.safetensors.index.json}'s
 * {@code weight_map}. Trusts its input (test files only): no hostile-header checks.
 */
public final class ReferenceSafetensors {

    /** One tensor: its dtype string, shape and values widened to double. */
    public record Tensor(String dtype, long[] shape, double[] values) {}

    private record Location(Path file, long dataStart, String dtype, long[] shape, long begin, long end) {}

    private final Map<String, Location> tensors = new HashMap<>();

    private ReferenceSafetensors() {}

    public static ReferenceSafetensors open(Path dir) {
        ReferenceSafetensors r = new ReferenceSafetensors();
        ObjectMapper json = new ObjectMapper();
        try {
            Path index = dir.resolve("model.safetensors.index.json");
            if (Files.exists(index)) {
                JsonNode map = json.readTree(index.toFile()).get("weight_map");
                Set<String> files = new java.util.TreeSet<>();
                map.forEach(f -> files.add(f.asText()));
                for (String f : files) {
                    r.readHeader(dir.resolve(f), json);
                }
                for (Iterator<String> it = map.fieldNames(); it.hasNext(); ) {
                    String name = it.next();
                    if (!r.tensors.containsKey(name)) {
                        throw new IllegalStateException("index names " + name + " but no shard holds it");
                    }
                }
            } else {
                r.readHeader(dir.resolve("model.safetensors"), json);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return r;
    }

    private void readHeader(Path file, ObjectMapper json) throws IOException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            ch.read(len, 0);
            long n = len.flip().getLong();
            ByteBuffer h = ByteBuffer.allocate((int) n);
            ch.read(h, 8);
            JsonNode header = json.readTree(new String(h.array(), StandardCharsets.UTF_8));
            for (Iterator<Map.Entry<String, JsonNode>> it = header.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                if (e.getKey().equals("__metadata__")) {
                    continue;
                }
                JsonNode t = e.getValue();
                long[] shape = new long[t.get("shape").size()];
                for (int i = 0; i < shape.length; i++) {
                    shape[i] = t.get("shape").get(i).asLong();
                }
                tensors.put(
                        e.getKey(),
                        new Location(
                                file,
                                8 + n,
                                t.get("dtype").asText(),
                                shape,
                                t.get("data_offsets").get(0).asLong(),
                                t.get("data_offsets").get(1).asLong()));
            }
        }
    }

    public Set<String> names() {
        return tensors.keySet();
    }

    public boolean contains(String name) {
        return tensors.containsKey(name);
    }

    public Tensor tensor(String name) {
        Location l = tensors.get(name);
        if (l == null) {
            throw new IllegalArgumentException("no tensor " + name);
        }
        int bytes = Math.toIntExact(l.end() - l.begin());
        ByteBuffer b = ByteBuffer.allocate(bytes).order(ByteOrder.LITTLE_ENDIAN);
        try (FileChannel ch = FileChannel.open(l.file(), StandardOpenOption.READ)) {
            while (b.hasRemaining()) {
                if (ch.read(b, l.dataStart() + l.begin() + b.position()) < 0) {
                    throw new IllegalStateException(name + ": file ends inside the tensor");
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        b.flip();
        double[] v;
        switch (l.dtype()) {
            case "F32" -> {
                v = new double[bytes / 4];
                for (int i = 0; i < v.length; i++) {
                    v[i] = b.getFloat();
                }
            }
            case "BF16" -> {
                // bfloat16 is the top half of a binary32.
                v = new double[bytes / 2];
                for (int i = 0; i < v.length; i++) {
                    v[i] = Float.intBitsToFloat((b.getShort() & 0xffff) << 16);
                }
            }
            case "F16" -> {
                v = new double[bytes / 2];
                for (int i = 0; i < v.length; i++) {
                    v[i] = fp16(b.getShort() & 0xffff);
                }
            }
            default -> throw new IllegalArgumentException(name + ": dtype " + l.dtype() + " not read by the reference");
        }
        long n = 1;
        for (long d : l.shape()) {
            n *= d;
        }
        if (n != v.length) {
            throw new IllegalStateException(name + ": shape holds " + n + " elements, data " + v.length);
        }
        return new Tensor(l.dtype(), l.shape().clone(), v);
    }

    /** IEEE binary16 to double, from the definition: (-1)^s * 2^(e-15) * (1 + m/1024), subnormals 2^-14 * m/1024. */
    static double fp16(int h) {
        int s = h >>> 15;
        int e = (h >>> 10) & 0x1f;
        int m = h & 0x3ff;
        double sign = s == 0 ? 1 : -1;
        if (e == 0x1f) {
            return m == 0 ? sign * Double.POSITIVE_INFINITY : Double.NaN;
        }
        if (e == 0) {
            return sign * Math.scalb(m / 1024.0, -14);
        }
        return sign * Math.scalb(1 + m / 1024.0, e - 15);
    }
}

package dev.attune.model.safetensors;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.core.json.JsonReadFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import dev.attune.kernels.precision.HalfFloats;
import dev.attune.model.ModelFormatException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A memory-mapped safetensors file whose header has been validated before any tensor is read.
 *
 * <p>Format: an unsigned little-endian 64-bit header length, that many bytes of UTF-8 JSON
 * mapping tensor names to {@code {dtype, shape, data_offsets}} (plus an optional
 * {@code __metadata__} map of strings), then the data section.
 *
 * <p>Every field is checked against the file before use: the header length fits the file and a
 * sane bound; each dtype is one Attune reads; each shape is non-negative and its byte size equals
 * its offsets' span; every range lies inside the data section; ranges do not overlap. Nothing is
 * read outside the mapped file: a hostile header yields a {@link ModelFormatException} naming
 * the file and tensor, never an out-of-bounds read.
 *
 * <p>Each tensor is memory-mapped on its own when it is read (a tensor over 2 GiB in several
 * mappings), so shards larger than 2 GiB work and only the tensors a model uses are touched. A file that shrank after {@link #open} raises an
 * error when its tensor is read, not a crash.
 *
 * <p>Threading: immutable after {@link #open}; tensors may be read from any thread.
 */
public final class SafetensorsFile {

    /** Headers larger than this are refused (the format's reference implementation uses 100 MB). */
    static final long MAX_HEADER_BYTES = 100L * 1024 * 1024;

    /** Bytes mapped at once when reading a tensor: under the 2 GiB limit of one mapping, a multiple of every dtype. */
    static final long MAX_MAP_BYTES = 1L << 30;

    private static final ObjectMapper JSON = JsonMapper.builder()
            .enable(JsonReadFeature.ALLOW_LEADING_DECIMAL_POINT_FOR_NUMBERS)
            .enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION)
            .build();

    static {
        JSON.getFactory()
                .setStreamReadConstraints(
                        StreamReadConstraints.builder().maxNestingDepth(64).build());
    }

    private final Path file;
    private final long dataStart;
    private final Map<String, TensorInfo> tensors;
    private final Map<String, String> metadata;

    private SafetensorsFile(Path file, long dataStart, Map<String, TensorInfo> tensors, Map<String, String> metadata) {
        this.file = file;
        this.dataStart = dataStart;
        this.tensors = tensors;
        this.metadata = metadata;
    }

    /** Maps and validates {@code file}. */
    public static SafetensorsFile open(Path file) {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            long size = ch.size();
            if (size < 8) {
                throw new ModelFormatException(file + ": not a safetensors file: " + size
                        + " bytes, too short to hold the 8-byte header length");
            }
            ByteBuffer lenBuf = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            readFully(ch, lenBuf, 0);
            long headerLen = lenBuf.flip().getLong();
            if (headerLen < 2 || headerLen > MAX_HEADER_BYTES) {
                throw new ModelFormatException(file + ": header length " + Long.toUnsignedString(headerLen)
                        + " is outside 2.." + MAX_HEADER_BYTES + " bytes");
            }
            if (8 + headerLen > size) {
                throw new ModelFormatException(file + ": header length " + headerLen
                        + " runs past the end of the file (" + size + " bytes): truncated or corrupt");
            }
            ByteBuffer headerBuf = ByteBuffer.allocate((int) headerLen);
            readFully(ch, headerBuf, 8);
            String header = StandardCharsets.UTF_8.decode(headerBuf.flip()).toString();
            long dataLen = size - 8 - headerLen;
            Map<String, String> metadata = new LinkedHashMap<>();
            Map<String, TensorInfo> tensors = parseHeader(file, header, dataLen, metadata);
            return new SafetensorsFile(file, 8 + headerLen, tensors, metadata);
        } catch (IOException e) {
            throw new ModelFormatException(file + ": cannot read: " + e.getMessage(), e);
        }
    }

    private static void readFully(FileChannel ch, ByteBuffer buf, long pos) throws IOException {
        while (buf.hasRemaining()) {
            int n = ch.read(buf, pos + buf.position());
            if (n < 0) {
                throw new IOException("unexpected end of file");
            }
        }
    }

    static Map<String, TensorInfo> parseHeader(Path file, String header, long dataLen, Map<String, String> metadata) {
        JsonNode root;
        try {
            root = JSON.readTree(header);
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new ModelFormatException(file + ": header is not valid JSON: " + e.getOriginalMessage(), e);
        }
        if (root == null || !root.isObject()) {
            throw new ModelFormatException(file + ": header must be a JSON object");
        }
        Map<String, TensorInfo> tensors = new LinkedHashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = root.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            String name = e.getKey();
            JsonNode node = e.getValue();
            if (name.equals("__metadata__")) {
                if (!node.isObject()) {
                    throw new ModelFormatException(file + ": __metadata__ must be an object of strings");
                }
                node.fields().forEachRemaining(m -> {
                    if (!m.getValue().isTextual()) {
                        throw new ModelFormatException(
                                file + ": __metadata__ value '" + m.getKey() + "' is not a string");
                    }
                    metadata.put(m.getKey(), m.getValue().asText());
                });
                continue;
            }
            tensors.put(name, parseTensor(file, name, node, dataLen));
        }
        checkNoOverlap(file, tensors);
        return Collections.unmodifiableMap(tensors);
    }

    private static TensorInfo parseTensor(Path file, String name, JsonNode node, long dataLen) {
        String where = file + ": tensor '" + name + "'";
        if (!node.isObject()) {
            throw new ModelFormatException(where + ": entry must be an object");
        }
        JsonNode dtypeNode = node.get("dtype");
        if (dtypeNode == null || !dtypeNode.isTextual()) {
            throw new ModelFormatException(where + ": missing dtype");
        }
        DType dtype = DType.parse(dtypeNode.asText())
                .orElseThrow(() -> new ModelFormatException(
                        where + ": unsupported dtype '" + dtypeNode.asText() + "' (Attune reads F32, F16 and BF16)"));
        JsonNode shapeNode = node.get("shape");
        if (shapeNode == null || !shapeNode.isArray() || shapeNode.size() > 8) {
            throw new ModelFormatException(where + ": shape must be an array of at most 8 dimensions");
        }
        long[] shape = new long[shapeNode.size()];
        long elements = 1;
        for (int i = 0; i < shape.length; i++) {
            JsonNode d = shapeNode.get(i);
            if (!d.canConvertToLong() || !d.isIntegralNumber() || d.asLong() < 0) {
                throw new ModelFormatException(
                        where + ": shape dimension " + i + " is not a non-negative integer: " + d);
            }
            shape[i] = d.asLong();
            try {
                elements = Math.multiplyExact(elements, shape[i]);
            } catch (ArithmeticException ex) {
                throw new ModelFormatException(where + ": shape " + shapeNode + " overflows");
            }
        }
        JsonNode offs = node.get("data_offsets");
        if (offs == null
                || !offs.isArray()
                || offs.size() != 2
                || !offs.get(0).isIntegralNumber()
                || !offs.get(1).isIntegralNumber()
                || !offs.get(0).canConvertToLong()
                || !offs.get(1).canConvertToLong()) {
            throw new ModelFormatException(where + ": data_offsets must be two integers");
        }
        long begin = offs.get(0).asLong();
        long end = offs.get(1).asLong();
        if (begin < 0 || end < begin) {
            throw new ModelFormatException(
                    where + ": data_offsets [" + begin + ", " + end + "] are not an ordered range");
        }
        if (end > dataLen) {
            throw new ModelFormatException(where + ": data_offsets [" + begin + ", " + end
                    + "] lie outside the data section of " + dataLen + " bytes");
        }
        long expected;
        try {
            expected = Math.multiplyExact(elements, dtype.bytes());
        } catch (ArithmeticException ex) {
            throw new ModelFormatException(where + ": size overflows");
        }
        if (end - begin != expected) {
            throw new ModelFormatException(where + ": data_offsets span " + (end - begin) + " bytes but " + dtype
                    + Json.shape(shape) + " needs " + expected);
        }
        return new TensorInfo(name, dtype, shape, begin, end);
    }

    private static void checkNoOverlap(Path file, Map<String, TensorInfo> tensors) {
        List<TensorInfo> sorted = new ArrayList<>(tensors.values());
        sorted.removeIf(t -> t.byteLength() == 0); // an empty tensor occupies no bytes
        sorted.sort(Comparator.comparingLong(TensorInfo::begin).thenComparingLong(TensorInfo::end));
        for (int i = 1; i < sorted.size(); i++) {
            TensorInfo a = sorted.get(i - 1);
            TensorInfo b = sorted.get(i);
            if (b.begin() < a.end()) {
                throw new ModelFormatException(
                        file + ": tensors '" + a.name() + "' and '" + b.name() + "' overlap in the data section");
            }
        }
    }

    public Path path() {
        return file;
    }

    public Map<String, TensorInfo> tensors() {
        return tensors;
    }

    public Map<String, String> metadata() {
        return metadata;
    }

    public TensorInfo info(String name) {
        TensorInfo t = tensors.get(name);
        if (t == null) {
            throw new ModelFormatException(file + ": no tensor named '" + name + "'");
        }
        return t;
    }

    /** The tensor's elements converted to fp32, in the file's row-major order. */
    public float[] readFloats(String name) {
        return readFloats(name, MAX_MAP_BYTES);
    }

    /** As {@link #readFloats(String)}, mapping at most {@code chunkBytes} (a multiple of 4) at a time. */
    float[] readFloats(String name, long chunkBytes) {
        TensorInfo t = info(name);
        long n = t.elements();
        if (n > Integer.MAX_VALUE - 8) {
            throw new ModelFormatException(
                    file + ": tensor '" + name + "' has " + n + " elements, too many for one array");
        }
        float[] out = new float[(int) n];
        if (n == 0) {
            return out;
        }
        // One mapping is limited to 2 GiB, so a larger tensor is read in chunks.
        int done = 0;
        for (long off = 0; off < t.byteLength(); off += chunkBytes) {
            MappedByteBuffer b = map(t, off, Math.min(chunkBytes, t.byteLength() - off));
            int count = b.remaining() / t.dtype().bytes();
            switch (t.dtype()) {
                case F32 -> b.asFloatBuffer().get(out, done, count);
                case F16 -> {
                    for (int i = done; i < done + count; i++) {
                        out[i] = HalfFloats.fp16ToFloat(b.getShort());
                    }
                }
                case BF16 -> {
                    for (int i = done; i < done + count; i++) {
                        out[i] = HalfFloats.bf16ToFloat(b.getShort());
                    }
                }
                default -> throw new IllegalStateException("unhandled dtype " + t.dtype());
            }
            done += count;
        }
        return out;
    }

    /** The bit patterns of a BF16 tensor's elements, in the file's row-major order, unconverted. */
    public short[] readBf16Bits(String name) {
        TensorInfo t = info(name);
        if (t.dtype() != DType.BF16) {
            throw new IllegalArgumentException(file + ": tensor '" + name + "' is " + t.dtype() + ", not BF16");
        }
        long n = t.elements();
        if (n > Integer.MAX_VALUE - 8) {
            throw new ModelFormatException(
                    file + ": tensor '" + name + "' has " + n + " elements, too many for one array");
        }
        short[] out = new short[(int) n];
        int done = 0;
        for (long off = 0; off < t.byteLength(); off += MAX_MAP_BYTES) {
            MappedByteBuffer b = map(t, off, Math.min(MAX_MAP_BYTES, t.byteLength() - off));
            int count = b.remaining() / 2;
            b.asShortBuffer().get(out, done, count);
            done += count;
        }
        return out;
    }

    /**
     * Maps {@code length} bytes at {@code offset} into the tensor's validated byte range, read-only
     * and little-endian, after checking that the whole tensor is still inside the file.
     */
    private MappedByteBuffer map(TensorInfo t, long offset, long length) {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            long from = dataStart + t.begin();
            if (from + t.byteLength() > ch.size()) {
                throw new ModelFormatException(file + ": tensor '" + t.name() + "' lies past the end of the file ("
                        + ch.size() + " bytes): the file changed after it was opened");
            }
            MappedByteBuffer b = ch.map(FileChannel.MapMode.READ_ONLY, from + offset, length);
            b.order(ByteOrder.LITTLE_ENDIAN);
            return b;
        } catch (IOException e) {
            throw new ModelFormatException(file + ": cannot read tensor '" + t.name() + "': " + e.getMessage(), e);
        }
    }

    /** Small helpers for messages. */
    static final class Json {
        private Json() {}

        static String shape(long[] s) {
            return java.util.Arrays.toString(s);
        }
    }
}

package dev.attune.model.safetensors;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.attune.model.ModelFormatException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The safetensors reader: fp32 round trips through {@link SafetensorsWriter}, exact fp16 and bf16
 * conversion from hand-built files, and hostile files (bad header length, bad JSON, bad dtypes,
 * shapes and offsets, overlaps, a file truncated after opening), each of which must be refused
 * with a {@link ModelFormatException} naming the file and the fault, never any other exception.
 */
class SafetensorsFileTest {

    @TempDir
    Path dir;

    // ---------------------------------------------------------------- valid files

    @Test
    void writerRoundTripKeepsNamesShapesAndExactBits() throws IOException {
        float[] special = {
            Float.NaN,
            -0.0f,
            0.0f,
            Float.POSITIVE_INFINITY,
            Float.NEGATIVE_INFINITY,
            Float.MIN_VALUE,
            Float.MAX_VALUE,
            -1.5e-30f
        };
        float[] matrix = new float[3 * 5];
        for (int i = 0; i < matrix.length; i++) {
            matrix[i] = i * 0.25f - 1f;
        }
        Path f = dir.resolve("m.safetensors");
        new SafetensorsWriter()
                .metadata("format", "pt")
                .add("a.matrix", new long[] {3, 5}, matrix)
                .add("b.special", new long[] {2, 2, 2}, special)
                .add("c.scalar", new long[] {}, new float[] {42f})
                .add("d.empty", new long[] {0, 7}, new float[0])
                .write(f);

        SafetensorsFile st = SafetensorsFile.open(f);
        assertEquals(f, st.path());
        assertEquals(
                List.of("a.matrix", "b.special", "c.scalar", "d.empty"),
                List.copyOf(st.tensors().keySet()));
        assertEquals(Map.of("format", "pt"), st.metadata());
        assertArrayEquals(new long[] {3, 5}, st.info("a.matrix").shape());
        assertEquals(DType.F32, st.info("a.matrix").dtype());
        assertArrayEquals(new long[] {}, st.info("c.scalar").shape());
        assertArrayEquals(new long[] {0, 7}, st.info("d.empty").shape());

        assertArrayEquals(matrix, st.readFloats("a.matrix"));
        assertArrayEquals(bits(special), bits(st.readFloats("b.special")));
        assertArrayEquals(new float[] {42f}, st.readFloats("c.scalar"));
        assertEquals(0, st.readFloats("d.empty").length);
    }

    @Test
    void writerReplacesAtomicallyAndLeavesNoTemporaryFile() throws IOException {
        Path f = dir.resolve("m.safetensors");
        new SafetensorsWriter().add("x", new long[] {2}, new float[] {1, 2}).write(f);
        new SafetensorsWriter().add("y", new long[] {3}, new float[] {7, 8, 9}).write(f);
        try (Stream<Path> s = Files.list(dir)) {
            assertEquals(List.of(f), s.toList());
        }
        SafetensorsFile st = SafetensorsFile.open(f);
        assertEquals(List.of("y"), List.copyOf(st.tensors().keySet()));
        assertArrayEquals(new float[] {7, 8, 9}, st.readFloats("y"));
    }

    @Test
    void writerRefusesMismatchedOrDuplicateTensors() {
        SafetensorsWriter w = new SafetensorsWriter().add("x", new long[] {2}, new float[] {1, 2});
        assertThrows(IllegalArgumentException.class, () -> w.add("x", new long[] {1}, new float[] {1}));
        assertThrows(IllegalArgumentException.class, () -> w.add("y", new long[] {2, 2}, new float[] {1, 2, 3}));
    }

    @Test
    void tensorAfterALargeOneIsReadFromItsOwnOffset() throws IOException {
        // The second tensor starts 1 MiB into the data section.
        float[] big = new float[1 << 18];
        for (int i = 0; i < big.length; i++) {
            big[i] = i;
        }
        Path f = dir.resolve("m.safetensors");
        new SafetensorsWriter()
                .add("big", new long[] {512, 512}, big)
                .add("tail", new long[] {3}, new float[] {-1, -2, -3})
                .write(f);
        SafetensorsFile st = SafetensorsFile.open(f);
        assertEquals(4L << 18, st.info("tail").begin());
        assertArrayEquals(new float[] {-1, -2, -3}, st.readFloats("tail"));
        assertArrayEquals(big, st.readFloats("big"));
    }

    @Test
    void tensorsReadInSeveralMappingsAreAssembledInOrder() throws IOException {
        // A tensor over 2 GiB (the limit of one mapping) is read in chunks; small chunks here
        // exercise the same path, including a last chunk shorter than the others.
        short[] halves = {0x3C00, (short) 0xC100, 0x7BFF, 0x4000, 0x4200, 0x4400, 0x4500};
        float[] halfValues = {1f, -2.5f, 65504f, 2f, 3f, 4f, 5f};
        float[] bf16Values = {1f, -2.5f, 65280f, 3.140625f, -3f, 4f, 0x1p-7f};
        ByteBuffer data = ByteBuffer.allocate(7 * 4 + 7 * 2 + 7 * 2).order(ByteOrder.LITTLE_ENDIAN);
        float[] f32 = {1.5f, -2f, 3.25f, 4f, -5f, 6.5f, 7f};
        for (float v : f32) {
            data.putFloat(v);
        }
        for (short h : halves) {
            data.putShort(h);
        }
        for (float v : bf16Values) {
            data.putShort((short) (Float.floatToRawIntBits(v) >>> 16));
        }
        Path f = raw(
                "chunks.safetensors",
                "{\"f\":{\"dtype\":\"F32\",\"shape\":[7],\"data_offsets\":[0,28]},"
                        + "\"h\":{\"dtype\":\"F16\",\"shape\":[7],\"data_offsets\":[28,42]},"
                        + "\"b\":{\"dtype\":\"BF16\",\"shape\":[7],\"data_offsets\":[42,56]}}",
                data.array());
        SafetensorsFile st = SafetensorsFile.open(f);
        for (long chunk : new long[] {4, 8, 12, 28, 1 << 20}) {
            assertArrayEquals(f32, st.readFloats("f", chunk), "F32, chunk " + chunk);
            assertArrayEquals(halfValues, st.readFloats("h", chunk), "F16, chunk " + chunk);
            assertArrayEquals(bf16Values, st.readFloats("b", chunk), "BF16, chunk " + chunk);
        }
        assertTrue(
                SafetensorsFile.MAX_MAP_BYTES <= Integer.MAX_VALUE && SafetensorsFile.MAX_MAP_BYTES % 4 == 0,
                "one mapping must stay under 2 GiB and hold whole elements");
    }

    @Test
    void convertsFp16Exactly() throws IOException {
        short[] halves = {
            0x3C00, (short) 0xC100, 0x7BFF, (short) 0xFBFF, 0x0001, (short) 0x8000, 0x3555, 0x7C00, (short) 0xFC00
        };
        float[] expected = {
            1.0f,
            -2.5f,
            65504f,
            -65504f,
            0x1p-24f,
            -0.0f,
            0.333251953125f,
            Float.POSITIVE_INFINITY,
            Float.NEGATIVE_INFINITY
        };
        Path f = raw(
                "h.safetensors", "{\"h\":{\"dtype\":\"F16\",\"shape\":[3,3],\"data_offsets\":[0,18]}}", le16(halves));
        SafetensorsFile st = SafetensorsFile.open(f);
        assertEquals(DType.F16, st.info("h").dtype());
        assertArrayEquals(bits(expected), bits(st.readFloats("h")));
    }

    @Test
    void convertsBf16Exactly() throws IOException {
        short[] bf = {0x3F80, (short) 0xC020, 0x4049, (short) 0xBF80, 0x7F7F, 0x0001};
        float[] expected = {
            1.0f, -2.5f, 3.140625f, -1.0f, Float.intBitsToFloat(0x7F7F0000), Float.intBitsToFloat(0x00010000)
        };
        Path f = raw(
                "b.safetensors",
                "{\"__metadata__\":{\"format\":\"pt\"},\"b\":{\"dtype\":\"BF16\",\"shape\":[6],\"data_offsets\":[0,12]}}",
                le16(bf));
        SafetensorsFile st = SafetensorsFile.open(f);
        assertEquals(DType.BF16, st.info("b").dtype());
        assertEquals(Map.of("format", "pt"), st.metadata());
        assertArrayEquals(bits(expected), bits(st.readFloats("b")));
    }

    @Test
    void readsMixedDtypesAtTheirOwnOffsets() throws IOException {
        ByteBuffer data = ByteBuffer.allocate(4 + 2 + 2).order(ByteOrder.LITTLE_ENDIAN);
        data.putFloat(6.5f).putShort((short) 0x3C00).putShort((short) 0x4049);
        Path f = raw(
                "mixed.safetensors",
                "{\"f\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                        + "\"h\":{\"dtype\":\"F16\",\"shape\":[1],\"data_offsets\":[4,6]},"
                        + "\"b\":{\"dtype\":\"BF16\",\"shape\":[1],\"data_offsets\":[6,8]}}",
                data.array());
        SafetensorsFile st = SafetensorsFile.open(f);
        assertArrayEquals(new float[] {6.5f}, st.readFloats("f"));
        assertArrayEquals(new float[] {1.0f}, st.readFloats("h"));
        assertArrayEquals(new float[] {3.140625f}, st.readFloats("b"));
    }

    @Test
    void headerPaddedWithSpacesAndGapsInDataAreAccepted() throws IOException {
        // The reference writer pads the header with spaces; unused bytes before a tensor are harmless.
        ByteBuffer data = ByteBuffer.allocate(12).order(ByteOrder.LITTLE_ENDIAN);
        data.putFloat(0, 99f).putFloat(8, 5f);
        Path f = raw(
                "pad.safetensors",
                "{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}        ",
                data.array());
        assertArrayEquals(new float[] {5f}, SafetensorsFile.open(f).readFloats("x"));
    }

    @Test
    void unknownTensorNameIsAFormatError() throws IOException {
        Path f = dir.resolve("m.safetensors");
        new SafetensorsWriter().add("x", new long[] {1}, new float[] {1}).write(f);
        SafetensorsFile st = SafetensorsFile.open(f);
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> st.readFloats("nope"));
        assertMessage(e, f.toString(), "no tensor named 'nope'");
    }

    // ---------------------------------------------------------------- hostile length prefix

    @Test
    void emptyFileIsRefused() throws IOException {
        Path f = dir.resolve("empty.safetensors");
        Files.write(f, new byte[0]);
        rejects(f, "0 bytes", "too short");
    }

    @Test
    void fileShorterThanTheLengthPrefixIsRefused() throws IOException {
        Path f = dir.resolve("short.safetensors");
        Files.write(f, new byte[] {2, 0, 0, 0, 0});
        rejects(f, "5 bytes", "too short");
    }

    @Test
    void headerLengthPastTheEndOfTheFileIsRefused() throws IOException {
        byte[] header = "{}".getBytes(StandardCharsets.US_ASCII);
        Path f = withLength("past.safetensors", 1000, header);
        rejects(f, "header length 1000", "runs past the end of the file (10 bytes)");
    }

    @ParameterizedTest
    @ValueSource(longs = {0x7fffffffffffffffL, -1L, 0x8000000000000000L, SafetensorsFile.MAX_HEADER_BYTES + 1, 0L, 1L})
    void absurdHeaderLengthIsRefusedWithoutAllocating(long length) throws IOException {
        Path f = withLength("huge.safetensors", length, "{}    ".getBytes(StandardCharsets.US_ASCII));
        rejects(f, "header length " + Long.toUnsignedString(length), "is outside 2..");
    }

    // ---------------------------------------------------------------- hostile headers

    static Stream<Arguments> hostileHeaders() {
        String f32x4 = "\"dtype\":\"F32\",\"shape\":[4]";
        return Stream.of(
                Arguments.of("not JSON", "{\"w\": {\"dtype\": ", 0, List.of("header is not valid JSON")),
                Arguments.of("plain garbage", "\u0000\u0001garbage", 0, List.of("header is not valid JSON")),
                Arguments.of("JSON array", "[1, 2, 3]", 0, List.of("header must be a JSON object")),
                Arguments.of("JSON string", "\"hello\"", 0, List.of("header must be a JSON object")),
                Arguments.of("JSON null", "null", 0, List.of("header must be a JSON object")),
                Arguments.of("only spaces", "      ", 0, List.of("header must be a JSON object")),
                Arguments.of(
                        "deep nesting",
                        "{\"w\":" + "[".repeat(5000) + "]".repeat(5000) + "}",
                        0,
                        List.of("header is not valid JSON")),
                Arguments.of(
                        "duplicate key",
                        "{\"w\":{" + f32x4 + ",\"data_offsets\":[0,16]}," + "\"w\":{" + f32x4
                                + ",\"data_offsets\":[16,32]}}",
                        32,
                        List.of("not valid JSON", "'w'")),
                Arguments.of("entry not an object", "{\"w\": 5}", 0, List.of("tensor 'w'", "entry must be an object")),
                Arguments.of(
                        "truncated data",
                        "{\"w\":{" + f32x4 + ",\"data_offsets\":[0,16]}}",
                        8,
                        List.of("tensor 'w'", "[0, 16]", "outside the data section of 8 bytes")),
                Arguments.of(
                        "offset far past end",
                        "{\"w\":{" + f32x4 + ",\"data_offsets\":[9223372036854775790,9223372036854775806]}}",
                        16,
                        List.of("tensor 'w'", "outside the data section")),
                Arguments.of(
                        "reversed offsets",
                        "{\"w\":{" + f32x4 + ",\"data_offsets\":[16,0]}}",
                        16,
                        List.of("tensor 'w'", "[16, 0]", "not an ordered range")),
                Arguments.of(
                        "negative offsets",
                        "{\"w\":{" + f32x4 + ",\"data_offsets\":[-16,0]}}",
                        16,
                        List.of("tensor 'w'", "[-16, 0]", "not an ordered range")),
                Arguments.of(
                        "non-integer offsets",
                        "{\"w\":{" + f32x4 + ",\"data_offsets\":[0.0,16.0]}}",
                        16,
                        List.of("tensor 'w'", "data_offsets must be two integers")),
                Arguments.of(
                        "three offsets",
                        "{\"w\":{" + f32x4 + ",\"data_offsets\":[0,8,16]}}",
                        16,
                        List.of("tensor 'w'", "data_offsets must be two integers")),
                Arguments.of(
                        "offset beyond long",
                        "{\"w\":{" + f32x4 + ",\"data_offsets\":[0,99999999999999999999]}}",
                        16,
                        List.of("tensor 'w'", "data_offsets must be two integers")),
                Arguments.of(
                        "missing offsets",
                        "{\"w\":{" + f32x4 + "}}",
                        16,
                        List.of("tensor 'w'", "data_offsets must be two integers")),
                Arguments.of(
                        "overlapping tensors",
                        "{\"a\":{" + f32x4 + ",\"data_offsets\":[0,16]}," + "\"b\":{" + f32x4
                                + ",\"data_offsets\":[8,24]}}",
                        24,
                        List.of("tensors 'a' and 'b' overlap")),
                Arguments.of(
                        "identical ranges",
                        "{\"a\":{" + f32x4 + ",\"data_offsets\":[0,16]}," + "\"b\":{" + f32x4
                                + ",\"data_offsets\":[0,16]}}",
                        16,
                        List.of("'a'", "'b'", "overlap")),
                Arguments.of(
                        "overlap behind an empty tensor",
                        "{\"a\":{" + f32x4 + ",\"data_offsets\":[0,16]},"
                                + "\"z\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,8]},"
                                + "\"c\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[12,16]}}",
                        16,
                        List.of("'a'", "'c'", "overlap")),
                Arguments.of(
                        "span smaller than shape",
                        "{\"w\":{" + f32x4 + ",\"data_offsets\":[0,12]}}",
                        16,
                        List.of("tensor 'w'", "span 12 bytes", "F32[4] needs 16")),
                Arguments.of(
                        "span larger than shape",
                        "{\"w\":{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[0,16]}}",
                        16,
                        List.of("tensor 'w'", "span 16 bytes", "F16[4] needs 8")),
                Arguments.of(
                        "dtype F64",
                        "{\"w\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[0,16]}}",
                        16,
                        List.of("tensor 'w'", "unsupported dtype 'F64'")),
                Arguments.of(
                        "dtype I8",
                        "{\"w\":{\"dtype\":\"I8\",\"shape\":[16],\"data_offsets\":[0,16]}}",
                        16,
                        List.of("tensor 'w'", "unsupported dtype 'I8'")),
                Arguments.of(
                        "dtype Q4",
                        "{\"w\":{\"dtype\":\"Q4\",\"shape\":[32],\"data_offsets\":[0,16]}}",
                        16,
                        List.of("tensor 'w'", "unsupported dtype 'Q4'")),
                Arguments.of(
                        "empty dtype",
                        "{\"w\":{\"dtype\":\"\",\"shape\":[4],\"data_offsets\":[0,16]}}",
                        16,
                        List.of("tensor 'w'", "unsupported dtype ''")),
                Arguments.of(
                        "missing dtype",
                        "{\"w\":{\"shape\":[4],\"data_offsets\":[0,16]}}",
                        16,
                        List.of("tensor 'w'", "missing dtype")),
                Arguments.of(
                        "numeric dtype",
                        "{\"w\":{\"dtype\":4,\"shape\":[4],\"data_offsets\":[0,16]}}",
                        16,
                        List.of("tensor 'w'", "missing dtype")),
                Arguments.of(
                        "negative dimension",
                        "{\"w\":{\"dtype\":\"F32\",\"shape\":[-1,-4],\"data_offsets\":[0,16]}}",
                        16,
                        List.of("tensor 'w'", "shape dimension 0 is not a non-negative integer")),
                Arguments.of(
                        "fractional dimension",
                        "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2.5],\"data_offsets\":[0,20]}}",
                        20,
                        List.of("tensor 'w'", "shape dimension 1 is not a non-negative integer")),
                Arguments.of(
                        "string dimension",
                        "{\"w\":{\"dtype\":\"F32\",\"shape\":[\"4\"],\"data_offsets\":[0,16]}}",
                        16,
                        List.of("tensor 'w'", "shape dimension 0 is not a non-negative integer")),
                Arguments.of(
                        "dimension beyond long",
                        "{\"w\":{\"dtype\":\"F32\",\"shape\":[99999999999999999999]," + "\"data_offsets\":[0,16]}}",
                        16,
                        List.of("tensor 'w'", "shape dimension 0 is not a non-negative integer")),
                Arguments.of(
                        "shape overflows long",
                        "{\"w\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296]," + "\"data_offsets\":[0,16]}}",
                        16,
                        List.of("tensor 'w'", "overflows")),
                Arguments.of(
                        "byte size overflows long",
                        "{\"w\":{\"dtype\":\"F32\",\"shape\":[2305843009213693952]," + "\"data_offsets\":[0,16]}}",
                        16,
                        List.of("tensor 'w'", "size overflows")),
                Arguments.of(
                        "shape not an array",
                        "{\"w\":{\"dtype\":\"F32\",\"shape\":4,\"data_offsets\":[0,16]}}",
                        16,
                        List.of("tensor 'w'", "shape must be an array")),
                Arguments.of(
                        "missing shape",
                        "{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,16]}}",
                        16,
                        List.of("tensor 'w'", "shape must be an array")),
                Arguments.of(
                        "too many dimensions",
                        "{\"w\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,4]," + "\"data_offsets\":[0,16]}}",
                        16,
                        List.of("tensor 'w'", "at most 8 dimensions")),
                Arguments.of(
                        "metadata not an object",
                        "{\"__metadata__\":[1]}",
                        0,
                        List.of("__metadata__ must be an object")),
                Arguments.of(
                        "metadata value not a string",
                        "{\"__metadata__\":{\"format\":{\"x\":1}}}",
                        0,
                        List.of("__metadata__ value 'format' is not a string")));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("hostileHeaders")
    void hostileHeaderIsRefused(String label, String header, int dataBytes, List<String> fragments) throws IOException {
        Path f = raw("hostile.safetensors", header, new byte[dataBytes]);
        rejects(f, fragments.toArray(String[]::new));
    }

    @Test
    void adjacentAndEmptyTensorsDoNotCountAsOverlapping() throws IOException {
        Path f = raw(
                "adjacent.safetensors",
                "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                        + "\"z\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,4]},"
                        + "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}",
                new byte[16]);
        SafetensorsFile st = SafetensorsFile.open(f);
        assertEquals(3, st.tensors().size());
        assertEquals(0, st.readFloats("z").length);
    }

    @Test
    void tensorTruncatedAfterOpenIsAFormatErrorNotACrash() throws IOException {
        Path f = dir.resolve("m.safetensors");
        new SafetensorsWriter()
                .add("a", new long[] {4}, new float[] {1, 2, 3, 4})
                .add("b", new long[] {4}, new float[] {5, 6, 7, 8})
                .write(f);
        SafetensorsFile st = SafetensorsFile.open(f);
        try (FileChannel ch = FileChannel.open(f, StandardOpenOption.WRITE)) {
            ch.truncate(ch.size() - 8);
        }
        assertArrayEquals(new float[] {1, 2, 3, 4}, st.readFloats("a"));
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> st.readFloats("b"));
        assertMessage(e, f.toString(), "tensor 'b'", "past the end of the file", "changed after it was opened");
    }

    @Test
    void tensorOfFileDeletedAfterOpenIsAFormatError() throws IOException {
        Path f = dir.resolve("m.safetensors");
        new SafetensorsWriter().add("a", new long[] {1}, new float[] {1}).write(f);
        SafetensorsFile st = SafetensorsFile.open(f);
        Files.delete(f);
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> st.readFloats("a"));
        assertMessage(e, f.toString(), "tensor 'a'");
    }

    @Test
    void missingFileIsAFormatError() {
        Path f = dir.resolve("absent.safetensors");
        rejects(f, "cannot read");
    }

    // ---------------------------------------------------------------- helpers

    private static ModelFormatException rejects(Path f, String... fragments) {
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> SafetensorsFile.open(f));
        assertMessage(e, f.toString());
        assertMessage(e, fragments);
        return e;
    }

    private static void assertMessage(Exception e, String... fragments) {
        for (String s : fragments) {
            assertTrue(e.getMessage().contains(s), () -> "message '" + e.getMessage() + "' lacks '" + s + "'");
        }
    }

    /** A file of: the header's length, the header, the data. */
    private Path raw(String name, String header, byte[] data) throws IOException {
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + h.length + data.length).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(h.length).put(h).put(data);
        Path f = dir.resolve(name);
        Files.write(f, b.array());
        return f;
    }

    /** A file of: {@code length} as the declared header length, then {@code rest}. */
    private Path withLength(String name, long length, byte[] rest) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(8 + rest.length).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(length).put(rest);
        Path f = dir.resolve(name);
        Files.write(f, b.array());
        return f;
    }

    private static byte[] le16(short[] v) {
        ByteBuffer b = ByteBuffer.allocate(v.length * 2).order(ByteOrder.LITTLE_ENDIAN);
        for (short s : v) {
            b.putShort(s);
        }
        return b.array();
    }

    private static int[] bits(float[] v) {
        int[] out = new int[v.length];
        for (int i = 0; i < v.length; i++) {
            out[i] = Float.floatToRawIntBits(v[i]);
        }
        return out;
    }
}

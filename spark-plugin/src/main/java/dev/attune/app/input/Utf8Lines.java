package dev.attune.app.input;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CoderResult;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * Reads a byte stream as lines of strict UTF-8, so that a bad byte is reported on the line that
 * holds it (a {@link java.io.BufferedReader} decodes ahead of the line it returns and fails with
 * no line at all). Lines end at {@code \n}; a trailing {@code \r} is dropped. A line that is not
 * valid UTF-8, or longer than {@link #MAX_LINE_BYTES}, is returned with an error and no text, and
 * reading goes on with the next line: the caller decides whether that stops the job.
 *
 * <p>Not thread-safe; the caller owns and closes the stream.
 */
public final class Utf8Lines {

    /** The longest line accepted (a text of this size is far beyond any model's context). */
    public static final int MAX_LINE_BYTES = 64 << 20;

    /** One line: its 1-based number, its text (null when it could not be read) and why not. */
    public record Line(long number, String text, String error) {

        public boolean blank() {
            return text != null && text.isBlank();
        }
    }

    private final InputStream in;
    private final int maxLineBytes;
    private final ByteArrayOutputStream buf = new ByteArrayOutputStream();
    private final CharsetDecoder utf8 = StandardCharsets.UTF_8
            .newDecoder()
            .onMalformedInput(CodingErrorAction.REPORT)
            .onUnmappableCharacter(CodingErrorAction.REPORT);
    private long number;

    /** {@code in} should be buffered: it is read a byte at a time. */
    public Utf8Lines(InputStream in) {
        this(in, MAX_LINE_BYTES);
    }

    Utf8Lines(InputStream in, int maxLineBytes) {
        this.in = in;
        this.maxLineBytes = maxLineBytes;
    }

    /** The next line, or null at the end of the stream. */
    public Line next() throws IOException {
        buf.reset();
        long length = 0;
        int b;
        while ((b = in.read()) >= 0 && b != '\n') {
            if (length++ < maxLineBytes) {
                buf.write(b);
            }
        }
        if (b < 0 && length == 0) {
            return null;
        }
        number++;
        if (length > maxLineBytes) {
            return new Line(
                    number, null, "the line is " + length + " bytes, longer than the " + maxLineBytes + " accepted");
        }
        byte[] bytes = buf.toByteArray();
        int n = bytes.length > 0 && bytes[bytes.length - 1] == '\r' ? bytes.length - 1 : bytes.length;
        try {
            return new Line(number, utf8.decode(ByteBuffer.wrap(bytes, 0, n)).toString(), null);
        } catch (CharacterCodingException e) {
            return new Line(number, null, "not valid UTF-8 (" + badByte(Arrays.copyOf(bytes, n)) + ")");
        }
    }

    /** Where the first invalid byte of {@code bytes} is, for the message. */
    static String badByte(byte[] bytes) {
        CharsetDecoder d = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT);
        ByteBuffer in = ByteBuffer.wrap(bytes);
        CoderResult r = d.decode(in, CharBuffer.allocate(bytes.length + 1), true);
        return r.isError()
                ? String.format("byte 0x%02x at byte %d", bytes[in.position()] & 0xff, in.position() + 1)
                : "malformed sequence";
    }
}

package dev.attune.app.cli;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.attune.app.input.Utf8Lines;
import java.io.IOException;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * Reads {@code {"id": ..., "text": ...}} lines of strict UTF-8 ({@link Utf8Lines}). Blank lines are
 * skipped and counted; any other line that is not such an object (or not valid UTF-8, or longer than
 * {@link Utf8Lines#MAX_LINE_BYTES}) is an {@link InputException} naming file and line. {@code text}
 * may be a string or null; {@code id} may be any JSON value and is copied to the output as it is;
 * ids seen more than once are counted ({@link #notes}). Not thread-safe.
 */
final class JsonlInput {

    /** One input row: its line number, id, text and the whole object (for other fields). */
    record Row(long line, JsonNode id, String text, JsonNode object) {

        /** A string-or-null field other than "text"; another type is an {@link InputException} naming the line. */
        String string(String source, String field) {
            JsonNode v = object.get(field);
            if (v == null) {
                throw new InputException(source + ":" + line + ": missing \"" + field + "\"");
            }
            if (!v.isTextual() && !v.isNull()) {
                throw new InputException(
                        source + ":" + line + ": \"" + field + "\" must be a string or null, got " + v.getNodeType());
            }
            return v.isNull() ? null : v.asText();
        }
    }

    /** A malformed input line. */
    static final class InputException extends RuntimeException {
        InputException(String message) {
            super(message);
        }
    }

    private final ObjectMapper json = new ObjectMapper();
    private final Utf8Lines lines;
    private final String source;
    private final Set<JsonNode> ids = new HashSet<>();
    private long blank;
    private long duplicates;
    private String firstDuplicate;

    /** The field a row may hold instead of "text" (generation's chat "messages"), or null. */
    private final String alternative;

    /** {@code in} is read to its end, not closed; buffer it. */
    JsonlInput(InputStream in, String source) {
        this(in, source, null);
    }

    JsonlInput(InputStream in, String source, String alternative) {
        this.lines = new Utf8Lines(in);
        this.source = source;
        this.alternative = alternative;
    }

    /** Up to {@code max} rows; an empty list at the end of input. */
    List<Row> next(int max) throws IOException {
        List<Row> rows = new ArrayList<>();
        Utf8Lines.Line l;
        while (rows.size() < max && (l = lines.next()) != null) {
            if (l.error() != null) {
                throw new InputException(source + ":" + l.number() + ": " + l.error());
            }
            if (l.blank()) {
                blank++;
                continue;
            }
            Row r = parse(l.text(), l.number());
            if (!ids.add(r.id()) && duplicates++ == 0) {
                firstDuplicate = r.id() + " (line " + l.number() + ")";
            }
            rows.add(r);
        }
        return rows;
    }

    /** What the summary should mention: blank lines skipped and ids seen more than once; "" when none. */
    String notes() {
        StringBuilder b = new StringBuilder();
        if (blank > 0) {
            b.append("; ")
                    .append(blank)
                    .append(blank == 1 ? " blank line" : " blank lines")
                    .append(" skipped");
        }
        if (duplicates > 0) {
            b.append("; ")
                    .append(duplicates)
                    .append(duplicates == 1 ? " row repeats" : " rows repeat")
                    .append(" an earlier id (the first: id ")
                    .append(firstDuplicate)
                    .append("), each written");
        }
        return b.toString();
    }

    private Row parse(String s, long line) {
        JsonNode n;
        try {
            n = json.readTree(s);
        } catch (JsonProcessingException e) {
            throw new InputException(source + ":" + line + ": not valid JSON: " + e.getOriginalMessage());
        }
        if (n == null || !n.isObject()) {
            throw new InputException(
                    source + ":" + line + ": expected a JSON object like {\"id\": 1, \"text\": \"...\"}");
        }
        if (!n.has("id")) {
            throw new InputException(source + ":" + line + ": missing \"id\"");
        }
        JsonNode text = n.get("text");
        if (text == null && alternative != null && n.has(alternative)) {
            return new Row(line, n.get("id"), null, n);
        }
        if (text == null) {
            throw new InputException(source + ":" + line + ": missing \"text\""
                    + (alternative == null ? "" : " (or \"" + alternative + "\")"));
        }
        if (!text.isTextual() && !text.isNull()) {
            throw new InputException(
                    source + ":" + line + ": \"text\" must be a string or null, got " + text.getNodeType());
        }
        return new Row(line, n.get("id"), text.isNull() ? null : text.asText(), n);
    }
}

package dev.attune.app.cli;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.BufferedReader;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/**
 * Reads {@code {"id": ..., "text": ...}} lines. Blank lines are skipped; any other line that is
 * not such an object is an {@link InputException} naming its line number. {@code text} may be a
 * string or null; {@code id} may be any JSON value and is copied to the output as it is.
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
    private final BufferedReader reader;
    private final String source;
    private long line;

    /** The field a row may hold instead of "text" (generation's chat "messages"), or null. */
    private final String alternative;

    JsonlInput(BufferedReader reader, String source) {
        this(reader, source, null);
    }

    JsonlInput(BufferedReader reader, String source, String alternative) {
        this.reader = reader;
        this.source = source;
        this.alternative = alternative;
    }

    /** Up to {@code max} rows; an empty list at the end of input. */
    List<Row> next(int max) throws IOException {
        List<Row> rows = new ArrayList<>();
        String s;
        while (rows.size() < max && (s = reader.readLine()) != null) {
            line++;
            if (s.isBlank()) {
                continue;
            }
            rows.add(parse(s));
        }
        return rows;
    }

    private Row parse(String s) {
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

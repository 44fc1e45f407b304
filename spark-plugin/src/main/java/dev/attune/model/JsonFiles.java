package dev.attune.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Path;

/** Reads the JSON files of a model directory ({@code config.json}, ...) with errors that name the file. */
public final class JsonFiles {

    private static final ObjectMapper JSON = new ObjectMapper();

    private JsonFiles() {}

    /**
     * The JSON object in {@code f}; a file that cannot be read, is not JSON, or holds something
     * other than an object is a {@link ModelFormatException} naming it.
     */
    public static JsonNode readObject(Path f) {
        JsonNode root;
        try {
            root = JSON.readTree(f.toFile());
        } catch (IOException e) {
            throw new ModelFormatException(f + ": cannot read: " + e.getMessage(), e);
        }
        if (root == null || !root.isObject()) {
            throw new ModelFormatException(f + ": must be a JSON object");
        }
        return root;
    }
}

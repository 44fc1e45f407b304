package dev.attune.testing.decoder;

import java.net.URISyntaxException;
import java.net.URL;
import java.nio.file.Path;

/** The real tokenizer directories under {@code src/test/resources/tokenizers/}: llama2, llama3, qwen3. */
public final class TestTokenizers {

    private TestTokenizers() {}

    public static Path dir(String name) {
        URL u = TestTokenizers.class.getClassLoader().getResource("tokenizers/" + name + "/tokenizer.json");
        if (u == null) {
            throw new IllegalArgumentException("no test tokenizer " + name);
        }
        try {
            return Path.of(u.toURI()).getParent();
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }
}

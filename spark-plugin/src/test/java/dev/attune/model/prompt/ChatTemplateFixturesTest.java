package dev.attune.model.prompt;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

/**
 * Every case of {@code chat/fixtures.json}, made by {@code chat/render_fixtures.py} with Python's
 * jinja2 the way Hugging Face's apply_chat_template renders, renders byte-identical through
 * {@link ChatTemplate}: the real Llama 3 and Qwen3 templates (Qwen3's reasoning stripping uses
 * reverse slices and str methods), a dated template reading strftime_now, and a template of
 * Python-isms (steps, str methods, tojson with indent, loop controls, printed booleans), and
 * Mistral's and Gemma's templates, whose raise_exception must fail with Python's message.
 */
class ChatTemplateFixturesTest {

    static Path resource(String name) {
        try {
            return Path.of(ChatTemplateFixturesTest.class
                    .getClassLoader()
                    .getResource(name)
                    .toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    static Clock fixedClock(long millis) {
        return Clock.fixed(Instant.ofEpochMilli(millis), ZoneOffset.UTC);
    }

    static List<ChatMessage> messages(JsonNode list) {
        List<ChatMessage> out = new ArrayList<>();
        for (JsonNode m : list) {
            out.add(new ChatMessage(m.get("role").asText(), m.get("content").asText()));
        }
        return out;
    }

    @TestFactory
    List<DynamicTest> fixturesRenderAsInPython() throws IOException {
        ObjectMapper json = new ObjectMapper();
        JsonNode doc = json.readTree(resource("chat/fixtures.json").toFile());
        Clock clock = fixedClock(doc.get("fixed_now_millis").asLong());
        Map<String, ChatTemplate> templates = new HashMap<>();
        for (String model : List.of("llama3", "qwen3")) {
            templates.put(
                    model,
                    ChatTemplate.load(resource("tokenizers/" + model), clock, ChatTemplate.Limits.DEFAULT)
                            .orElseThrow());
        }
        doc.get("templates")
                .fields()
                .forEachRemaining(e -> templates.put(
                        e.getKey(),
                        ChatTemplate.of(
                                e.getValue().get("source").asText(),
                                "fixtures.json#" + e.getKey(),
                                ChatTemplate.specialTokens(resource("tokenizers/"
                                        + e.getValue().get("model").asText())),
                                clock,
                                ChatTemplate.Limits.DEFAULT)));
        List<DynamicTest> tests = new ArrayList<>();
        for (JsonNode c : doc.get("cases")) {
            String name =
                    c.get("template").asText() + " " + c.get("conversation").asText() + " gen="
                            + c.get("add_generation_prompt").asBoolean() + " " + c.get("extra");
            tests.add(DynamicTest.dynamicTest(name, () -> {
                ChatTemplate t = templates.get(c.get("template").asText());
                Map<String, Object> extra =
                        json.convertValue(c.get("extra"), new TypeReference<Map<String, Object>>() {});
                List<ChatMessage> msgs = messages(c.get("messages"));
                boolean gen = c.get("add_generation_prompt").asBoolean();
                if (c.has("expected_error")) {
                    ChatTemplateException e =
                            assertThrows(ChatTemplateException.class, () -> t.render(msgs, gen, extra));
                    assertTrue(e.raisedByTemplate(), e.getMessage());
                    assertEquals(
                            "fixtures.json#" + c.get("template").asText() + ": the chat template raised an error: "
                                    + c.get("expected_error").asText(),
                            e.getMessage());
                } else {
                    assertEquals(c.get("expected").asText(), t.render(msgs, gen, extra));
                }
            }));
        }
        assertTrue(tests.size() >= 30, "fixture file has " + tests.size() + " cases");
        return tests;
    }
}

package dev.attune.model.prompt;

import static dev.attune.model.prompt.ChatTemplateFixturesTest.fixedClock;
import static dev.attune.model.prompt.ChatTemplateFixturesTest.resource;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.attune.model.ModelFormatException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link ChatTemplate} beyond the fixtures: loading (no template, bad JSON, a list of named
 * templates, added-token special tokens), message validation, {@code raise_exception}, syntax and
 * runtime errors as one line naming the source, hostile templates stopped quickly, and
 * concurrent rendering.
 */
class ChatTemplateTest {

    private static final Clock CLOCK = fixedClock(1721984703000L);
    private static final List<ChatMessage> CHAT = List.of(
            ChatMessage.system("Be brief."),
            ChatMessage.user("Hi"),
            ChatMessage.assistant("Hello!"),
            ChatMessage.user("Bye"));

    @TempDir
    Path tmp;

    private static ChatTemplate inline(String source) {
        return ChatTemplate.of(source, "test-template", Map.of("bos_token", "<s>"), CLOCK, ChatTemplate.Limits.DEFAULT);
    }

    private static ChatTemplate inline(String source, ChatTemplate.Limits limits) {
        return ChatTemplate.of(source, "test-template", Map.of(), CLOCK, limits);
    }

    private Path modelDir(String configJson) throws IOException {
        Path d = Files.createTempDirectory(tmp, "model");
        Files.writeString(d.resolve(ChatTemplate.CONFIG_FILE), configJson);
        return d;
    }

    private static void assertOneLineNaming(String source, Exception e) {
        assertTrue(e.getMessage().contains(source), e.getMessage());
        assertFalse(e.getMessage().contains("\n"), e.getMessage());
        assertTrue(e.getMessage().length() < 500, e.getMessage());
    }

    // ---- loading ----

    @Test
    void realTemplatesLoadWithTheirSpecialTokens() {
        ChatTemplate llama3 = ChatTemplate.load(resource("tokenizers/llama3")).orElseThrow();
        assertEquals("<|begin_of_text|>", llama3.specialTokens().get("bos_token"));
        assertTrue(llama3.sourceName().endsWith("tokenizer_config.json"));
        ChatTemplate qwen3 = ChatTemplate.load(resource("tokenizers/qwen3")).orElseThrow();
        assertFalse(qwen3.specialTokens().containsKey("bos_token"), "Qwen3's bos_token is null");
        assertEquals("<|im_end|>", qwen3.specialTokens().get("eos_token"));
        assertEquals(13, ((List<?>) qwen3.specialTokens().get("additional_special_tokens")).size());
    }

    @Test
    void modelWithoutTemplateIsEmpty() {
        assertTrue(ChatTemplate.load(resource("tokenizers/llama2")).isEmpty());
    }

    @Test
    void badJsonNamesTheFile() throws IOException {
        Path d = modelDir("{\"chat_template\": \"{{ x }}\",,}");
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> ChatTemplate.load(d));
        assertOneLineNaming(d.resolve("tokenizer_config.json").toString(), e);
        Path none = Files.createTempDirectory(tmp, "empty");
        assertThrows(ModelFormatException.class, () -> ChatTemplate.load(none));
        Path wrongType = modelDir("{\"chat_template\": 3}");
        assertThrows(ModelFormatException.class, () -> ChatTemplate.load(wrongType));
    }

    @Test
    void listOfNamedTemplatesUsesDefaultAndAddedTokensAreText() throws IOException {
        Path d = modelDir(
                "{\"bos_token\": {\"__type\": \"AddedToken\", \"content\": \"<B>\", \"lstrip\": false},"
                        + " \"chat_template\": [{\"name\": \"tool_use\", \"template\": \"TOOLS\"},"
                        + " {\"name\": \"default\", \"template\": \"{{ bos_token }}{% for m in messages %}[{{ m.role }}]{% endfor %}\"}]}");
        ChatTemplate t = ChatTemplate.load(d).orElseThrow();
        assertEquals("<B>[user]", t.render(List.of(ChatMessage.user("x")), true));
        Path noDefault = modelDir("{\"chat_template\": [{\"name\": \"tool_use\", \"template\": \"T\"}]}");
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> ChatTemplate.load(noDefault));
        assertTrue(e.getMessage().contains("default"), e.getMessage());
    }

    @Test
    void chatTemplateJinjaFileWins() throws IOException {
        Path d = modelDir("{\"eos_token\": \"</s>\", \"chat_template\": \"from config\"}");
        Files.writeString(d.resolve(ChatTemplate.JINJA_FILE), "{{ messages[0].content }}{{ eos_token }}\n");
        assertEquals("hi</s>", ChatTemplate.load(d).orElseThrow().render(List.of(ChatMessage.user("hi")), false));
    }

    // ---- validation ----

    @Test
    void badMessagesNameTheirIndex() {
        ChatTemplate t = inline("{% for m in messages %}{{ m.content }}{% endfor %}");
        assertThrows(IllegalArgumentException.class, () -> t.render(null, true));
        assertThrows(IllegalArgumentException.class, () -> t.render(List.of(), true));
        IllegalArgumentException e = assertThrows(
                IllegalArgumentException.class, () -> t.render(Arrays.asList(ChatMessage.user("a"), null), true));
        assertTrue(e.getMessage().contains("message 1"), e.getMessage());
        e = assertThrows(
                IllegalArgumentException.class,
                () -> t.render(
                        List.of(ChatMessage.user("a"), ChatMessage.user("b"), new ChatMessage(null, "c")), true));
        assertTrue(e.getMessage().contains("message 2") && e.getMessage().contains("role"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> t.render(List.of(new ChatMessage("user", null)), true));
        assertTrue(e.getMessage().contains("message 0") && e.getMessage().contains("content"), e.getMessage());
        assertThrows(
                IllegalArgumentException.class,
                () -> t.render(List.of(ChatMessage.user("a")), true, Map.of("messages", "x")));
    }

    // ---- failures ----

    @Test
    void raiseExceptionNamesSourceAndMessage() {
        ChatTemplate t = inline("{% for m in messages %}{% if m.role not in ['user', 'assistant'] %}"
                + "{{ raise_exception('Conversation roles must be user or assistant, got ' + m.role) }}"
                + "{% endif %}{{ m.content }}{% endfor %}");
        assertEquals("ab", t.render(List.of(ChatMessage.user("a"), ChatMessage.assistant("b")), true));
        ChatTemplateException e = assertThrows(
                ChatTemplateException.class,
                () -> t.render(List.of(ChatMessage.user("a"), new ChatMessage("tool", "b")), true));
        assertTrue(e.raisedByTemplate());
        assertOneLineNaming("test-template", e);
        assertTrue(e.getMessage().endsWith("Conversation roles must be user or assistant, got tool"), e.getMessage());
    }

    @Test
    void anUnknownRoleIsNamedInsteadOfDroppedByTheTemplate() {
        ChatTemplate t = inline("{% for m in messages %}{% if m.role == 'user' %}U:{{ m.content }}"
                + "{% elif m.role == 'assistant' %}A:{{ m.content }}{% endif %}{% endfor %}");
        IllegalArgumentException e = assertThrows(
                IllegalArgumentException.class,
                () -> t.render(List.of(ChatMessage.user("a"), new ChatMessage("robot", "b")), true));
        assertEquals(
                "message 1: unknown role 'robot'; chat templates render system, developer, user, assistant, tool,"
                        + " ipython",
                e.getMessage());
        assertEquals("U:aA:b", t.render(List.of(ChatMessage.user("a"), ChatMessage.assistant("b")), true));
    }

    @Test
    void syntaxErrorIsOneLineAtLoad() {
        ModelFormatException e =
                assertThrows(ModelFormatException.class, () -> inline("{% for m in messages %}{{ m.content }}"));
        assertOneLineNaming("test-template", e);
        e = assertThrows(ModelFormatException.class, () -> inline("{% if %}x{% endif %}{% endfor %}"));
        assertOneLineNaming("test-template", e);
    }

    @Test
    void runtimeErrorIsOneLine() {
        ChatTemplate t = inline("{{ messages[0].content.split('') }}");
        ChatTemplateException e =
                assertThrows(ChatTemplateException.class, () -> t.render(List.of(ChatMessage.user("a b")), true));
        assertFalse(e.raisedByTemplate());
        assertOneLineNaming("test-template", e);
        assertTrue(e.getMessage().contains("empty separator"), e.getMessage());
        ChatTemplate step = inline("{{ messages[::0] }}");
        e = assertThrows(ChatTemplateException.class, () -> step.render(List.of(ChatMessage.user("a")), true));
        assertTrue(e.getMessage().contains("step cannot be zero"), e.getMessage());
    }

    @Test
    @Timeout(10)
    void hostileLoopsStopQuickly() {
        ChatTemplate nested =
                inline("{% for a in range(100000) %}{% for b in range(100000) %}{% for c in range(100000) %}"
                        + "{% endfor %}{% endfor %}{% endfor %}");
        long t0 = System.nanoTime();
        ChatTemplateException e = assertThrows(ChatTemplateException.class, () -> nested.render(CHAT, true));
        long ms = (System.nanoTime() - t0) / 1_000_000;
        assertTrue(ms < 3000, "took " + ms + " ms");
        assertOneLineNaming("test-template", e);
        assertTrue(e.getMessage().contains("render steps"), e.getMessage());
    }

    @Test
    @Timeout(10)
    void hugeOutputAndValuesStop() {
        ChatTemplate output = inline(
                "{% for a in range(100000) %}{% for b in range(1000) %}xxxxxxxxxxxxxxxx{% endfor %}{% endfor %}");
        ChatTemplateException e = assertThrows(ChatTemplateException.class, () -> output.render(CHAT, true));
        assertOneLineNaming("test-template", e);
        ChatTemplate doubling =
                inline("{% set ns = namespace(s='ab') %}{% for i in range(64) %}{% set ns.s = ns.s + ns.s %}"
                        + "{% endfor %}{{ ns.s|length }}");
        e = assertThrows(ChatTemplateException.class, () -> doubling.render(CHAT, true));
        assertOneLineNaming("test-template", e);
        ChatTemplate recursion = inline("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}");
        e = assertThrows(ChatTemplateException.class, () -> recursion.render(CHAT, true));
        assertOneLineNaming("test-template", e);
    }

    @Test
    @Timeout(10)
    void timeLimitIsABackstop() {
        ChatTemplate slow = inline(
                "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}",
                new ChatTemplate.Limits(1 << 20, Long.MAX_VALUE, Duration.ofMillis(300)));
        long t0 = System.nanoTime();
        ChatTemplateException e = assertThrows(ChatTemplateException.class, () -> slow.render(CHAT, true));
        long ms = (System.nanoTime() - t0) / 1_000_000;
        assertTrue(e.getMessage().contains("longer than 300 ms"), e.getMessage());
        assertTrue(ms < 3000, "took " + ms + " ms");
    }

    @Test
    void limitsLeaveRealPromptsAlone() {
        ChatTemplate qwen3 = ChatTemplate.load(resource("tokenizers/qwen3")).orElseThrow();
        List<ChatMessage> longChat = new ArrayList<>();
        for (int i = 0; i < 500; i++) {
            longChat.add(ChatMessage.user("question " + i));
            longChat.add(ChatMessage.assistant("<think>\nthinking " + i + "\n</think>\n\nanswer " + i));
        }
        String out = qwen3.render(longChat, true);
        assertTrue(
                out.contains("answer 499") && out.endsWith("<|im_start|>assistant\n"),
                out.substring(out.length() - 100));
        assertFalse(out.contains("thinking 0"), "earlier reasoning is stripped");
        assertTrue(out.contains("thinking 499"), "the last turn's reasoning is kept");
    }

    @Test
    void contentIsNeverRenderedAsATemplate() {
        ChatTemplate t = inline("{% for m in messages %}{{ m.content }}{% endfor %}");
        String hostile = "{{ range(10)|list }}{% for i in range(3) %}x{% endfor %}{{ raise_exception('no') }}";
        assertEquals(hostile, t.render(List.of(ChatMessage.user(hostile)), true));
    }

    @Test
    void includesLoadNothing() {
        ChatTemplate t = inline("{% include 'META-INF/MANIFEST.MF' %}");
        assertThrows(ChatTemplateException.class, () -> t.render(CHAT, true));
    }

    // ---- threads ----

    @Test
    @Timeout(60)
    void concurrentRendersMatchSequentialOnes() throws Exception {
        ChatTemplate qwen3 = ChatTemplate.load(resource("tokenizers/qwen3"), CLOCK, ChatTemplate.Limits.DEFAULT)
                .orElseThrow();
        ChatTemplate llama3 = ChatTemplate.load(resource("tokenizers/llama3"), CLOCK, ChatTemplate.Limits.DEFAULT)
                .orElseThrow();
        List<List<ChatMessage>> chats = new ArrayList<>();
        for (int i = 0; i < 40; i++) {
            List<ChatMessage> c = new ArrayList<>();
            c.add(ChatMessage.system("system " + i));
            for (int k = 0; k <= i % 5; k++) {
                c.add(ChatMessage.user("user " + i + "." + k + " é中🎉"));
                c.add(ChatMessage.assistant("<think>\nr" + k + "\n</think>\n\nassistant " + i + "." + k));
            }
            chats.add(c);
        }
        List<String> expected = new ArrayList<>();
        for (List<ChatMessage> c : chats) {
            expected.add(qwen3.render(c, true, Map.of("enable_thinking", false)) + "|" + llama3.render(c, false));
        }
        ExecutorService pool = Executors.newFixedThreadPool(8);
        try {
            List<Future<Boolean>> fs = new ArrayList<>();
            for (int t = 0; t < 8; t++) {
                int shift = t;
                fs.add(pool.submit(() -> {
                    for (int rep = 0; rep < 3; rep++) {
                        for (int j = 0; j < chats.size(); j++) {
                            int i = (j + shift * 7) % chats.size();
                            String got = qwen3.render(chats.get(i), true, Map.of("enable_thinking", false)) + "|"
                                    + llama3.render(chats.get(i), false);
                            if (!got.equals(expected.get(i))) {
                                return false;
                            }
                        }
                    }
                    return true;
                }));
            }
            for (Future<Boolean> f : fs) {
                assertTrue(f.get());
            }
        } finally {
            pool.shutdownNow();
        }
    }
}

package dev.attune.model.prompt;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.hubspot.jinjava.Jinjava;
import com.hubspot.jinjava.JinjavaConfig;
import com.hubspot.jinjava.LegacyOverrides;
import com.hubspot.jinjava.el.JinjavaInterpreterResolver;
import com.hubspot.jinjava.interpret.JinjavaInterpreter;
import com.hubspot.jinjava.interpret.MacroTagCycleException;
import com.hubspot.jinjava.interpret.OutputTooBigException;
import com.hubspot.jinjava.interpret.RenderResult;
import com.hubspot.jinjava.interpret.TemplateError;
import com.hubspot.jinjava.lib.fn.ELFunctionDefinition;
import com.hubspot.jinjava.loader.ResourceLocator;
import com.hubspot.jinjava.tree.Node;
import dev.attune.model.ModelFormatException;
import java.io.IOException;
import java.nio.charset.Charset;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import jinjava.javax.el.CompositeELResolver;

/**
 * A model's chat template (the Jinja {@code chat_template} of its {@code tokenizer_config.json}),
 * rendering a conversation into the prompt string exactly as Hugging Face's
 * {@code tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=...)} does.
 *
 * <p>The engine is jinjava, set up as transformers sets up Jinja2 (trim_blocks, lstrip_blocks,
 * loop controls, read-only values) with the Python parts HF templates rely on: slices with steps,
 * {@code str} methods ({@link PythonMethodsResolver}), keyword arguments with expressions
 * ({@link PythonSyntax}), HF's {@code tojson}, {@code raise_exception}, {@code strftime_now}, and
 * Python's printing of values. The template sees {@code messages} (dicts with {@code role} and
 * {@code content}), {@code add_generation_prompt}, {@code tools} and {@code documents} (None),
 * the tokenizer's special tokens that are set ({@code bos_token}, {@code eos_token},
 * {@code unk_token}, {@code pad_token}, ..., {@code additional_special_tokens}) and any extra
 * variables, which win over the special tokens (Qwen3's {@code enable_thinking}, a
 * {@code date_string}). {@code include}/{@code import} load nothing, as in HF. Known differences
 * from Jinja2, none of them used by the templates tested: an explicit None prints as nothing
 * rather than {@code None} and {@code x is defined} is false for it (jinjava cannot tell None
 * from undefined); an attribute of an undefined value is undefined rather than an error;
 * {@code 'ab' * 3} is an error; {@code range(n)} stops at the item limit.
 *
 * <p>Lifecycle: {@link #load} reads and checks the template once (per model load); the object
 * holds no native or closeable resources. Threading: immutable and safe for concurrent
 * {@link #render} calls from any number of task threads; each thread renders on its own jinjava
 * engine (created on first use, kept in a {@link ThreadLocal}).
 *
 * <p>Failures: a bad file is a {@link ModelFormatException} naming it; a bad conversation (null
 * list or message, null role or content, a role outside {@link #ROLES}) an
 * {@link IllegalArgumentException} naming the message index; a template that calls {@code raise_exception}, fails at run time or goes past its
 * {@link Limits} a {@link ChatTemplateException} whose one-line message names the template's
 * source. Limits bound the output size, the number of render steps, the length of any value and
 * the time of one render, so a hostile template can neither hang nor exhaust an executor.
 */
public final class ChatTemplate {

    /**
     * The roles a conversation may hold: those the chat templates of the supported families branch
     * on ({@code ipython} is Llama 3.1's tool output, {@code developer} the newer name of system).
     */
    public static final List<String> ROLES = List.of("system", "developer", "user", "assistant", "tool", "ipython");

    public static final String CONFIG_FILE = "tokenizer_config.json";
    /** Newer transformers save the template next to the config; it wins when present. */
    public static final String JINJA_FILE = "chat_template.jinja";

    private static final List<String> SPECIAL_TOKENS = List.of(
            "bos_token",
            "eos_token",
            "unk_token",
            "sep_token",
            "pad_token",
            "cls_token",
            "mask_token",
            "additional_special_tokens");
    private static final List<String> RESERVED = List.of("messages", "add_generation_prompt");

    /**
     * What one render may do. {@code maxOutputChars} also bounds every intermediate string, list
     * and dict; {@code maxNodes} counts template nodes rendered (each loop iteration's tags and
     * text); {@code maxTime} is a wall-clock backstop.
     */
    public record Limits(long maxOutputChars, long maxNodes, Duration maxTime) {

        /** 1 Mi characters, a million render steps, ten seconds: far above any real prompt. */
        public static final Limits DEFAULT = new Limits(1 << 20, 1_000_000, Duration.ofSeconds(10));

        public Limits {
            if (maxOutputChars < 1 || maxNodes < 1 || maxTime == null || maxTime.isNegative() || maxTime.isZero()) {
                throw new IllegalArgumentException(
                        "limits must be positive: " + maxOutputChars + ", " + maxNodes + ", " + maxTime);
            }
        }
    }

    private final String sourceName;
    private final String source;
    private final String prepared;
    private final Map<String, Object> specialTokens;
    private final Limits limits;
    private final JinjavaConfig config;
    private final ThreadLocal<Jinjava> engines;

    private ChatTemplate(
            String sourceName, String source, Map<String, Object> specialTokens, Clock clock, Limits limits) {
        this.sourceName = sourceName;
        this.source = source;
        this.prepared = PythonSyntax.rewrite(source);
        this.specialTokens = Collections.unmodifiableMap(new LinkedHashMap<>(specialTokens));
        this.limits = limits;
        this.config = config(clock, limits);
        this.engines = ThreadLocal.withInitial(this::newEngine);
        checkSyntax();
    }

    /** The chat template of the model in {@code dir}, rendering with the system clock. */
    public static Optional<ChatTemplate> load(Path dir) {
        return load(dir, Clock.systemDefaultZone(), Limits.DEFAULT);
    }

    /**
     * The chat template of the model in {@code dir}: {@code chat_template.jinja} if present, else
     * {@code chat_template} of {@code tokenizer_config.json} (a string, or a list of
     * {@code {name, template}} of which {@code default} is used). Empty when the model has none.
     * {@code clock} is what {@code strftime_now} reads.
     */
    public static Optional<ChatTemplate> load(Path dir, Clock clock, Limits limits) {
        Path f = dir.resolve(CONFIG_FILE);
        JsonNode root = readConfig(dir);
        Map<String, Object> tokens = specialTokens(f, root);
        Path jinja = dir.resolve(JINJA_FILE);
        if (Files.isRegularFile(jinja)) {
            try {
                return Optional.of(new ChatTemplate(
                        jinja.toString(), Files.readString(jinja, StandardCharsets.UTF_8), tokens, clock, limits));
            } catch (IOException e) {
                throw new ModelFormatException(jinja + ": unreadable: " + e.getMessage(), e);
            }
        }
        JsonNode t = root.get("chat_template");
        if (t == null || t.isNull()) {
            return Optional.empty();
        }
        String text;
        if (t.isTextual()) {
            text = t.asText();
        } else if (t.isArray()) {
            text = null;
            for (JsonNode e : t) {
                if (e.isObject()
                        && "default".equals(e.path("name").asText(null))
                        && e.path("template").isTextual()) {
                    text = e.get("template").asText();
                }
            }
            if (text == null) {
                throw new ModelFormatException(f + ": chat_template is a list without a \"default\" template");
            }
        } else {
            throw new ModelFormatException(f + ": chat_template is neither a string nor a list of {name, template}");
        }
        return Optional.of(new ChatTemplate(f.toString(), text, tokens, clock, limits));
    }

    /**
     * A template given as text, for templates that do not come with the model. {@code sourceName}
     * is what error messages name; {@code specialTokens} are bound like a tokenizer's.
     */
    public static ChatTemplate of(
            String source, String sourceName, Map<String, ?> specialTokens, Clock clock, Limits limits) {
        Objects.requireNonNull(source, "template source");
        Objects.requireNonNull(sourceName, "source name");
        Objects.requireNonNull(clock, "clock");
        Objects.requireNonNull(limits, "limits");
        return new ChatTemplate(sourceName, source, new LinkedHashMap<>(specialTokens), clock, limits);
    }

    /**
     * The special tokens of the model in {@code dir} as a template sees them (those of
     * {@code bos_token}, {@code eos_token}, ... that are set; added-token objects as their text),
     * also for models without a chat template, whose prompts are plain strings.
     */
    public static Map<String, Object> specialTokens(Path dir) {
        return Collections.unmodifiableMap(specialTokens(dir.resolve(CONFIG_FILE), readConfig(dir)));
    }

    private static JsonNode readConfig(Path dir) {
        Path f = dir.resolve(CONFIG_FILE);
        if (!Files.isRegularFile(f)) {
            throw new ModelFormatException(dir + ": no " + CONFIG_FILE + " in the model directory");
        }
        JsonNode root;
        try {
            root = new ObjectMapper().readTree(f.toFile());
        } catch (IOException e) {
            throw new ModelFormatException(f + ": not valid JSON: " + oneLine(e.getMessage()), e);
        }
        if (root == null || !root.isObject()) {
            throw new ModelFormatException(f + ": not a JSON object");
        }
        return root;
    }

    private static Map<String, Object> specialTokens(Path f, JsonNode root) {
        Map<String, Object> out = new LinkedHashMap<>();
        for (String k : SPECIAL_TOKENS) {
            JsonNode v = root.get(k);
            if (v == null || v.isNull()) {
                continue;
            }
            if (v.isArray()) {
                List<String> l = new ArrayList<>();
                for (JsonNode e : v) {
                    l.add(tokenText(f, k, e));
                }
                out.put(k, Collections.unmodifiableList(l));
            } else {
                out.put(k, tokenText(f, k, v));
            }
        }
        return out;
    }

    private static String tokenText(Path f, String key, JsonNode v) {
        if (v.isTextual()) {
            return v.asText();
        }
        if (v.isObject() && v.path("content").isTextual()) {
            return v.get("content").asText(); // an AddedToken
        }
        throw new ModelFormatException(f + ": " + key + " is neither a string nor an added token: " + v);
    }

    public String sourceName() {
        return sourceName;
    }

    /** The template text as the model ships it. */
    public String source() {
        return source;
    }

    /** The special tokens every render binds. */
    public Map<String, Object> specialTokens() {
        return specialTokens;
    }

    public Limits limits() {
        return limits;
    }

    /** {@code apply_chat_template(messages, tokenize=False, add_generation_prompt=...)}. */
    public String render(List<ChatMessage> messages, boolean addGenerationPrompt) {
        return render(messages, addGenerationPrompt, Map.of());
    }

    /**
     * As {@link #render(List, boolean)}, with extra template variables (HF's
     * {@code **kwargs}: {@code enable_thinking}, {@code tools}, {@code date_string}, ...). Values
     * may be strings, numbers, booleans, null, lists and maps of these.
     */
    public String render(List<ChatMessage> messages, boolean addGenerationPrompt, Map<String, ?> variables) {
        List<Map<String, Object>> msgs = validate(messages);
        Objects.requireNonNull(variables, "variables");
        Map<String, Object> bindings = new LinkedHashMap<>();
        bindings.put("messages", msgs);
        bindings.put("tools", null);
        bindings.put("documents", null);
        bindings.put("add_generation_prompt", addGenerationPrompt);
        bindings.putAll(specialTokens);
        for (Map.Entry<String, ?> e : variables.entrySet()) {
            if (e.getKey() == null || RESERVED.contains(e.getKey())) {
                throw new IllegalArgumentException(
                        "template variable " + e.getKey() + " is set by render itself, not by the variables map");
            }
            bindings.put(e.getKey(), e.getValue());
        }
        RenderBudget budget = new RenderBudget(limits);
        RenderResult r;
        Jinjava engine = engines.get();
        CURRENT_BUDGET.set(budget);
        try {
            r = engine.renderForResult(prepared, bindings);
        } finally {
            CURRENT_BUDGET.remove();
        }
        throwIfFailed(r.getErrors(), budget);
        return r.getOutput();
    }

    private static List<Map<String, Object>> validate(List<ChatMessage> messages) {
        if (messages == null) {
            throw new IllegalArgumentException("messages: null list");
        }
        if (messages.isEmpty()) {
            throw new IllegalArgumentException("messages: no messages to render");
        }
        List<Map<String, Object>> out = new ArrayList<>(messages.size());
        for (int i = 0; i < messages.size(); i++) {
            ChatMessage m = messages.get(i);
            if (m == null) {
                throw new IllegalArgumentException("message " + i + ": null");
            }
            if (m.role() == null || m.role().isEmpty()) {
                throw new IllegalArgumentException(
                        "message " + i + ": " + (m.role() == null ? "null" : "empty") + " role");
            }
            if (!ROLES.contains(m.role())) {
                // Templates branch on the role and most drop a role they do not know without a word.
                throw new IllegalArgumentException("message " + i + ": unknown role '" + m.role() + "'; chat templates "
                        + "render " + String.join(", ", ROLES));
            }
            if (m.content() == null) {
                throw new IllegalArgumentException("message " + i + " (" + m.role() + "): null content");
            }
            Map<String, Object> d = new LinkedHashMap<>(4);
            d.put("role", m.role());
            d.put("content", m.content());
            out.add(Collections.unmodifiableMap(d));
        }
        return Collections.unmodifiableList(out);
    }

    // ---- engine ----

    private static final ThreadLocal<RenderBudget> CURRENT_BUDGET = new ThreadLocal<>();

    private static JinjavaConfig config(Clock clock, Limits limits) {
        int maxItems = (int) Math.min(Integer.MAX_VALUE, limits.maxOutputChars());
        CompositeELResolver resolver = new CompositeELResolver();
        resolver.add(new PythonMethodsResolver());
        resolver.add(JinjavaInterpreterResolver.DEFAULT_RESOLVER_READ_ONLY);
        return JinjavaConfig.newBuilder()
                .withCharset(StandardCharsets.UTF_8)
                .withLocale(Locale.ENGLISH)
                .withTimeZone(clock.getZone())
                .withDateTimeProvider(clock::millis)
                .withTrimBlocks(true)
                .withLstripBlocks(true)
                .withLegacyOverrides(LegacyOverrides.newBuilder()
                        .withParseWhitespaceControlStrictly(true)
                        .withUseTrimmingForNotesAndExpressions(true)
                        .withUseNaturalOperatorPrecedence(true)
                        .withEvaluateMapKeys(true)
                        .withKeepNullableLoopValues(true)
                        .build())
                .withElResolver(resolver)
                .withInterperterFactory(new BudgetedFactory())
                .withNodePreProcessor(PythonInterpreter::tick)
                // a value containing {{ }} is text, never a template (HF's Jinja2 never re-renders)
                .withNestedInterpretationEnabled(false)
                .withMaxOutputSize(limits.maxOutputChars())
                .withMaxStringLength(limits.maxOutputChars())
                .withMaxListSize(maxItems)
                .withMaxMapSize(maxItems)
                .withRangeLimit(maxItems)
                .withEnableRecursiveMacroCalls(true)
                .withMaxMacroRecursionDepth(100)
                .withMaxRenderDepth(10)
                .build();
    }

    /** Gives each render's top interpreter the budget {@link #render} set for this thread. */
    private static final class BudgetedFactory implements com.hubspot.jinjava.interpret.InterpreterFactory {
        @Override
        public JinjavaInterpreter newInstance(JinjavaInterpreter orig) {
            return PythonInterpreter.FACTORY.newInstance(orig);
        }

        @Override
        public JinjavaInterpreter newInstance(
                Jinjava application, com.hubspot.jinjava.interpret.Context context, JinjavaConfig config) {
            PythonInterpreter in =
                    (PythonInterpreter) PythonInterpreter.FACTORY.newInstance(application, context, config);
            in.budget(CURRENT_BUDGET.get());
            return in;
        }
    }

    private Jinjava newEngine() {
        Jinjava j = new Jinjava(config);
        j.setResourceLocator(new NoResources());
        j.registerFunction(new ELFunctionDefinition(
                "", "raise_exception", PythonInterpreter.class, "raiseException", Object.class));
        j.registerFunction(
                new ELFunctionDefinition("", "strftime_now", PythonInterpreter.class, "strftimeNow", String.class));
        j.registerFilter(new PythonJson());
        return j;
    }

    /** Templates load nothing: HF's sandboxed environment has no loader. */
    private static final class NoResources implements ResourceLocator {
        @Override
        public String getString(String fullName, Charset encoding, JinjavaInterpreter interpreter) throws IOException {
            throw new IOException("chat templates cannot include or import other templates (" + fullName + ")");
        }
    }

    /** Parses once so a broken template fails at load, naming its source. */
    private void checkSyntax() {
        Jinjava engine = engines.get();
        JinjavaInterpreter in = engine.newInterpreter();
        JinjavaInterpreter.pushCurrent(in);
        try {
            Node root = in.parse(prepared);
            Objects.requireNonNull(root);
            for (TemplateError e : in.getErrorsCopy()) {
                if (isFatal(e)) {
                    throw new ModelFormatException(sourceName + ": chat template does not parse: " + describe(e));
                }
            }
        } catch (RuntimeException e) {
            if (e instanceof ModelFormatException) {
                throw e;
            }
            throw new ModelFormatException(
                    sourceName + ": chat template does not parse: " + oneLine(e.getMessage()), e);
        } finally {
            JinjavaInterpreter.popCurrent();
        }
    }

    private void throwIfFailed(List<TemplateError> errors, RenderBudget budget) {
        TemplateError first = null;
        for (TemplateError e : errors) {
            PythonInterpreter.Raised raised = cause(e.getException(), PythonInterpreter.Raised.class);
            if (raised != null) {
                throw new ChatTemplateException(
                        sourceName + ": the chat template raised an error: " + raised.getMessage(), true);
            }
            if (first == null && isFatal(e)) {
                first = e;
            }
        }
        if (budget.failure() != null) {
            throw new ChatTemplateException(sourceName + ": chat template stopped: " + budget.failure(), false);
        }
        if (first != null) {
            if (cause(first.getException(), OutputTooBigException.class) != null) {
                throw new ChatTemplateException(
                        sourceName + ": chat template stopped: the output or a string grew longer than "
                                + limits.maxOutputChars() + " characters",
                        false);
            }
            throw new ChatTemplateException(sourceName + ": chat template failed: " + describe(first), false);
        }
    }

    /**
     * Jinja2 fails where jinjava goes on with a warning: a stray end tag, a macro recursing without
     * end. Unknown properties stay warnings (Jinja2's Undefined).
     */
    private static boolean isFatal(TemplateError e) {
        return e.getSeverity() == TemplateError.ErrorType.FATAL
                || e.getReason() == TemplateError.ErrorReason.SYNTAX_ERROR
                || cause(e.getException(), MacroTagCycleException.class) != null;
    }

    private static String describe(TemplateError e) {
        String msg = e.getMessage();
        if ((msg == null || msg.isBlank()) && e.getException() != null) {
            msg = e.getException().toString();
        }
        return (e.getLineno() > 0 ? "line " + e.getLineno() + ": " : "") + oneLine(msg);
    }

    private static <T extends Throwable> T cause(Throwable t, Class<T> type) {
        for (int depth = 0; t != null && depth < 20; depth++, t = t.getCause()) {
            if (type.isInstance(t)) {
                return type.cast(t);
            }
        }
        return null;
    }

    private static String oneLine(String s) {
        if (s == null) {
            return "(no message)";
        }
        String one = s.replaceAll("\\s*\\R\\s*", " ").strip();
        return one.length() > 300 ? one.substring(0, 300) + "..." : one;
    }
}

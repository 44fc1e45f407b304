package dev.attune.spark.conf;

import dev.attune.kernels.device.SimulatedDevices;
import dev.attune.kernels.select.AttentionPath;
import dev.attune.kernels.select.ComputeDtype;
import dev.attune.kernels.select.UserOverrides;
import dev.attune.runtime.AttuneSettings;
import dev.attune.runtime.OnError;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * The one registry of every {@code spark.attune.*} setting, from which docs/configs.md is
 * generated ({@link ConfigDocs}) and against which the driver validates the whole configuration
 * before any executor starts ({@link #validate}), and the one parser of Spark's string
 * configuration into the typed {@link AttuneSettings} the runtime and the tasks take
 * ({@link #parse}): the Spark layer parses once where it starts the runtime or reads a session's
 * configuration, and hands the settings down.
 */
public final class AttuneConf {

    public static final String PREFIX = "spark.attune.";
    private static final List<ConfEntry<?>> ENTRIES = new ArrayList<>();

    public static final ConfEntry<String> MODEL = add(
            "spark.attune.model",
            "string",
            "builtin:all-MiniLM-L6-v2",
            "The model: a Hugging Face model directory, a Hadoop URI (hdfs:, s3a:, ...) or builtin:all-MiniLM-L6-v2, "
                    + "builtin:bge-small-en-v1.5. Executors preload it; transformers and SQL functions use it unless they name "
                    + "another.",
            AttuneConf::nonBlank);
    public static final ConfEntry<Boolean> MODEL_PRELOAD = add(
            "spark.attune.model.preload",
            "boolean",
            "true",
            "Load the model when the executor starts, so the first task does not pay for it and a missing model fails "
                    + "the executor at once.",
            AttuneConf::bool);
    public static final ConfEntry<Optional<AttentionPath>> ATTENTION_PATH = add(
            "spark.attune.attention.path",
            "string",
            "auto",
            "Force one attention path on every device (flash-sm80, flash-sm75, mem-efficient, math, cpu-flash, "
                    + "cpu-math), or auto. A device that cannot run a forced path fails with the device, path and reason.",
            s -> s.equalsIgnoreCase("auto") ? Optional.empty() : Optional.of(AttentionPath.parse(s)));
    public static final ConfEntry<Set<AttentionPath>> ATTENTION_EXCLUDE = add(
            "spark.attune.attention.exclude",
            "list",
            "",
            "Attention paths never to use, comma-separated; the selector takes the next runnable one.",
            s -> Arrays.stream(s.split(","))
                    .filter(x -> !x.isBlank())
                    .map(AttentionPath::parse)
                    .collect(Collectors.toSet()));
    public static final ConfEntry<Optional<ComputeDtype>> DTYPE = add(
            "spark.attune.dtype",
            "string",
            "auto",
            "Compute dtype on GPUs: auto (bf16 or fp16 on sm80+ as the model is stored, fp16 on sm70/sm75, fp32 on older), "
                    + "fp32, fp16 or bf16 (sm80+ only). The CPU always computes in fp32.",
            s -> s.equalsIgnoreCase("auto") ? Optional.empty() : Optional.of(ComputeDtype.parse(s)));
    public static final ConfEntry<Integer> BATCH_SIZE = add(
            "spark.attune.batch.size",
            "int",
            "0",
            "Rows per batch; 0 sizes batches from the memory planner (device memory, path and the model's maximum "
                    + "length), capped at 256.",
            s -> intAtLeast(s, 0));
    public static final ConfEntry<Integer> BATCH_MAX_TOKENS = add(
            "spark.attune.batch.maxTokens",
            "int",
            "16384",
            "Most tokens in one batch; rows are grouped by length within each partition first.",
            s -> intAtLeast(s, 1));
    public static final ConfEntry<Integer> GPU_CONCURRENT_TASKS = add(
            "spark.attune.gpu.concurrentTasks",
            "int",
            "2",
            "Tasks that may run on one GPU at once; further tasks wait for a slot.",
            s -> intAtLeast(s, 1));
    public static final ConfEntry<Double> GPU_MEMORY_FRACTION = add(
            "spark.attune.gpu.memoryFraction",
            "double",
            "0.9",
            "Share of a device's free memory the memory planner may use for weights and activations.",
            AttuneConf::fraction);
    public static final ConfEntry<String> GPU_RESOURCE = add(
            "spark.attune.gpu.resourceName",
            "string",
            "gpu",
            "Name of the Spark resource whose addresses are this executor's GPUs (spark.executor.resource.<name>.amount).",
            AttuneConf::nonBlank);
    public static final ConfEntry<Integer> CPU_THREADS = add(
            "spark.attune.cpu.threads",
            "int",
            "0",
            "Threads one task uses on the CPU path; 0 means spark.task.cpus, so a task stays within the cores Spark "
                    + "gave it.",
            s -> intAtLeast(s, 0));
    public static final ConfEntry<Integer> MAX_TEXT_CHARS = add(
            AttuneSettings.MAX_TEXT_CHARS_KEY,
            "int",
            "1000000",
            "Longest text, in characters, a row may hold; a longer one is a row error (see onError) instead of a "
                    + "tokenizer run over megabytes whose tokens would be truncated anyway.",
            s -> intAtLeast(s, 1));
    public static final ConfEntry<OnError> ON_ERROR = add(
            "spark.attune.onError",
            "string",
            "fail",
            "What a row that cannot be scored does: fail (the task fails, naming the row) or null (the row gets null and "
                    + "an error message in the error column; every other row is kept).",
            OnError::parse);
    public static final ConfEntry<Map<String, List<String>>> SIMULATE_DEVICES = add(
            AttuneSettings.SIMULATE_DEVICES_KEY,
            "string",
            "",
            "Give executors simulated GPUs instead of probing: EXECUTOR_ID=NAME[+NAME...] pairs, "
                    + "comma-separated, or *=NAME for every executor; for example 0=T4,1=A100 (local-cluster) or "
                    + "driver=T4 (local mode). Names: " + String.join(", ", SimulatedDevices.names()) + ".",
            AttuneConf::simulated);
    public static final ConfEntry<String> CACHE_DIR = add(
            "spark.attune.cache.dir",
            "string",
            "",
            "Where built-in models are converted and remote models copied on each host; empty means $ATTUNE_CACHE_DIR or "
                    + "~/.cache/attune.",
            s -> s);

    private AttuneConf() {}

    private static <T> ConfEntry<T> add(
            String key, String type, String dflt, String doc, java.util.function.Function<String, T> parser) {
        ConfEntry<T> e = new ConfEntry<>(key, type, dflt, doc, parser);
        ENTRIES.add(e);
        return e;
    }

    public static List<ConfEntry<?>> entries() {
        return Collections.unmodifiableList(ENTRIES);
    }

    /**
     * Checks every {@code spark.attune.*} key in {@code conf}: unknown keys (with the nearest known
     * one) and values that do not parse. All problems are reported at once.
     */
    public static void validate(Map<String, String> conf) {
        Map<String, ConfEntry<?>> known = new LinkedHashMap<>();
        ENTRIES.forEach(e -> known.put(e.key(), e));
        List<String> problems = new ArrayList<>();
        for (Map.Entry<String, String> kv : conf.entrySet()) {
            if (!kv.getKey().startsWith(PREFIX)) {
                continue;
            }
            ConfEntry<?> e = known.get(kv.getKey());
            if (e == null) {
                problems.add("unknown key " + kv.getKey() + nearest(kv.getKey(), known.keySet()));
                continue;
            }
            try {
                e.parse(kv.getValue());
            } catch (AttuneConfigException ex) {
                problems.add(ex.getMessage());
            }
        }
        Optional<AttentionPath> forced =
                ATTENTION_PATH.get(conf.containsKey(ATTENTION_PATH.key()) && problems.isEmpty() ? conf : Map.of());
        if (problems.isEmpty()
                && forced.isPresent()
                && ATTENTION_EXCLUDE.get(conf).contains(forced.get())) {
            problems.add("spark.attune.attention.path forces " + forced.get()
                    + ", which spark.attune.attention.exclude excludes");
        }
        if (!problems.isEmpty()) {
            throw new AttuneConfigException("invalid Attune configuration: " + String.join("; ", problems));
        }
    }

    /**
     * Validates {@code conf} ({@link #validate}) and reads every setting the runtime and the tasks
     * use, with the defaults for keys not set; {@code spark.task.cpus} and the
     * {@code spark.hadoop.*} options are read from the same map.
     *
     * @throws AttuneConfigException naming every bad key and value at once
     */
    public static AttuneSettings parse(Map<String, String> conf) {
        validate(conf);
        Map<String, String> hadoop = new LinkedHashMap<>();
        conf.forEach((k, v) -> {
            if (k.startsWith("spark.hadoop.")) {
                hadoop.put(k.substring("spark.hadoop.".length()), v);
            }
        });
        int taskCpus;
        try {
            taskCpus =
                    Integer.parseInt(conf.getOrDefault("spark.task.cpus", "1").trim());
        } catch (NumberFormatException e) {
            taskCpus = 1;
        }
        return new AttuneSettings(
                MODEL.get(conf),
                MODEL_PRELOAD.get(conf),
                overrides(conf),
                BATCH_SIZE.get(conf),
                BATCH_MAX_TOKENS.get(conf),
                GPU_CONCURRENT_TASKS.get(conf),
                GPU_MEMORY_FRACTION.get(conf),
                GPU_RESOURCE.get(conf),
                CPU_THREADS.get(conf),
                taskCpus,
                MAX_TEXT_CHARS.get(conf),
                ON_ERROR.get(conf),
                SIMULATE_DEVICES.get(conf),
                CACHE_DIR.get(conf),
                hadoop);
    }

    /** The selector overrides this configuration asks for. */
    public static UserOverrides overrides(Map<String, String> conf) {
        return new UserOverrides(ATTENTION_PATH.get(conf), ATTENTION_EXCLUDE.get(conf), DTYPE.get(conf));
    }

    private static String nearest(String key, Set<String> known) {
        String best = null;
        int bestD = Integer.MAX_VALUE;
        for (String k : known) {
            int d = distance(key, k);
            if (d < bestD) {
                bestD = d;
                best = k;
            }
        }
        return best != null && bestD <= Math.max(3, key.length() / 4) ? " (did you mean " + best + "?)" : "";
    }

    private static int distance(String a, String b) {
        int[] prev = new int[b.length() + 1];
        int[] cur = new int[b.length() + 1];
        for (int j = 0; j <= b.length(); j++) {
            prev[j] = j;
        }
        for (int i = 1; i <= a.length(); i++) {
            cur[0] = i;
            for (int j = 1; j <= b.length(); j++) {
                cur[j] = Math.min(
                        Math.min(cur[j - 1] + 1, prev[j] + 1),
                        prev[j - 1] + (a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1));
            }
            int[] t = prev;
            prev = cur;
            cur = t;
        }
        return prev[b.length()];
    }

    private static String nonBlank(String s) {
        if (s.isBlank()) {
            throw new IllegalArgumentException("must not be empty");
        }
        return s;
    }

    private static Boolean bool(String s) {
        return switch (s.toLowerCase(Locale.ROOT)) {
            case "true" -> true;
            case "false" -> false;
            default -> throw new IllegalArgumentException("use true or false");
        };
    }

    private static Integer intAtLeast(String s, int min) {
        int v;
        try {
            v = Integer.parseInt(s);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("not an integer");
        }
        if (v < min) {
            throw new IllegalArgumentException("must be at least " + min);
        }
        return v;
    }

    private static Double fraction(String s) {
        double v;
        try {
            v = Double.parseDouble(s);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("not a number");
        }
        if (!(v > 0 && v <= 1)) {
            throw new IllegalArgumentException("must be in (0, 1]");
        }
        return v;
    }

    /**
     * Parses "0=T4,1=A100+T4,*=V100" into executor id -> simulated device names (checked). A bad
     * part (no '=', an empty id or name, an unknown device, an executor named twice) is an error
     * naming that part.
     */
    static Map<String, List<String>> simulated(String s) {
        Map<String, List<String>> m = new LinkedHashMap<>();
        for (String raw : s.split(",")) {
            if (raw.isBlank()) {
                continue;
            }
            String part = raw.trim();
            int eq = part.indexOf('=');
            String id = eq < 0 ? "" : part.substring(0, eq).trim();
            if (id.isEmpty() || part.substring(eq + 1).isBlank()) {
                throw new IllegalArgumentException("'" + part + "' is not EXECUTOR_ID=NAME[+NAME...]");
            }
            List<String> names = Arrays.stream(part.substring(eq + 1).split("\\+", -1))
                    .map(String::trim)
                    .toList();
            for (String n : names) {
                if (n.isEmpty()) {
                    throw new IllegalArgumentException("'" + part + "' has an empty device name");
                }
                try {
                    SimulatedDevices.get(n, 0);
                } catch (IllegalArgumentException e) {
                    throw new IllegalArgumentException("'" + part + "': " + e.getMessage());
                }
            }
            if (m.put(id, names) != null) {
                throw new IllegalArgumentException("'" + part + "': executor " + id + " is given devices twice");
            }
        }
        return m;
    }
}

package dev.attune.app.job;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.attune.model.ModelCheck;
import dev.attune.model.ModelFamily;
import dev.attune.model.ModelFormatException;
import dev.attune.model.io.ModelLocator;
import dev.attune.runtime.AttuneSettings;
import dev.attune.spark.ClusterInventory;
import dev.attune.spark.SparkJvmFlags;
import dev.attune.spark.conf.AttuneConf;
import dev.attune.spark.conf.AttuneConfigException;
import dev.attune.spark.conf.SparkSettings;
import dev.attune.spark.ml.AttuneTextTransformer;
import dev.attune.spark.ml.SequenceScorer;
import dev.attune.spark.ml.TextClassifier;
import dev.attune.spark.ml.TextEmbedder;
import dev.attune.spark.ml.TextGenerator;
import dev.attune.task.TaskKind;
import dev.attune.task.generate.SamplingParams;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.UUID;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.spark.sql.Column;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.functions;

/**
 * The scheduled offline scoring job: input table, score a text column, output table keyed by
 * the input id. Tasks ({@code --task}, {@link TaskKind}): {@code embed} and {@code classify} with
 * an encoder; {@code loglik} (columns logprob, mean_logprob, tokens) and {@code choose} (label,
 * label_index, scores) with a decoder, through {@link SequenceScorer}. Runnable with spark-submit ({@code --class dev.attune.app.job.ScoringJob}) and as
 * {@code bin/attune score}.
 *
 * <p>Resumable and idempotent: the input is split into {@code --chunks} chunks by a hash of the
 * id; chunks are scored {@code --chunks-per-job} at a time, each wave written to a private staging
 * directory and then moved into {@code OUTPUT/chunk=K} with a marker {@code OUTPUT/_attune/chunk-K.done}.
 * Re-running the same command after a failure skips committed chunks and redoes the others, so
 * every id appears exactly once. Output written with other settings (model, task, columns, chunk
 * count) is refused instead of mixed.
 *
 * <p>Every record is accounted for: a JSON-lines record that cannot be read (or a CSV quote that
 * would merge records) is named by file and line ({@link JobInput}); such records stop the job
 * under {@code spark.attune.onError=fail} and are failed rows under {@code null}. At the end the job
 * prints records read = rows written + rows failed, stores the counts in
 * {@code OUTPUT/_attune/counts.json}, and fails when they do not add up.
 *
 * <p>Exit codes: 0 done, 1 the job failed (the summary says which chunks are committed), 2 bad
 * arguments.
 */
public final class ScoringJob {

    /** The job's settings. */
    record Options(
            String input,
            String format,
            String table,
            String output,
            TaskKind task,
            String model,
            String textCol,
            String idCol,
            int chunks,
            int chunksPerJob,
            int partitions,
            boolean withPathDevice,
            String master,
            String simulateDevices,
            Map<String, String> conf,
            String promptCol,
            String choicesCol,
            boolean lengthNormalize,
            boolean verbose,
            SamplingParams sampling,
            String messagesCol) {

        /** The input columns the task reads besides the id. */
        List<String> inputCols() {
            List<String> c = new ArrayList<>(List.of(textCol));
            if (promptCol != null && !promptCol.equals(textCol)) {
                c.add(promptCol);
            }
            if (choicesCol != null) {
                c.add(choicesCol);
            }
            if (messagesCol != null) {
                c.remove(textCol); // the prompt is the messages column
                c.add(messagesCol);
            }
            return c;
        }
    }

    /** What a finished run reports. */
    public record Summary(
            long recordsRead,
            long rowsThisRun,
            double seconds,
            long totalRows,
            Map<String, Long> perDevicePath,
            long failedRows,
            List<Integer> chunksDone,
            int chunks) {

        /** Output rows with a result: every record read is one of these or a failed row. */
        public long rowsWritten() {
            return totalRows - failedRows;
        }
    }

    static final String USAGE = """
            attune score (--input PATH [--format parquet|json|csv] | --table NAME) --output PATH
                         [--task embed|classify|loglik|choose|generate] [--model MODEL] [--text-col text]
                         [--id-col id] [--prompt-col COL] [--choices-col COL [--length-normalize]]
                         [--messages-col COL] [--max-new-tokens 64] [--temperature 0] [--top-k 0] [--top-p 1]
                         [--min-p 0] [--repetition-penalty 1] [--seed 0] [--stop STRING ...]
                         [--chunks 16] [--chunks-per-job 4] [--partitions N] [--with-path-device]
                         [--master MASTER] [--simulate-devices 0=T4,1=A100] [--conf key=value ...] [--verbose]
              loglik   (a decoder) writes logprob, mean_logprob, tokens (scored token count) per id; with
                       --prompt-col the text is scored as a completion of that column's prompt
              choose   (a decoder) writes label, label_index, scores: the candidate of the array<string>
                       column --choices-col most likely after the prompt (--prompt-col, else --text-col)
              generate (a decoder) writes text, tokens, prompt_tokens, completion_tokens, finish_reason
                       (stop|length), token_logprobs per id: text generated after --text-col (or the chat messages of the
                       array<struct<role, content>> column --messages-col, rendered by the model's template);
                       greedy at temperature 0; each id's random stream is seeded from --seed and the id
              --verbose  stack traces with errors, and Spark's own task failure logs""";

    private ScoringJob() {}

    public static void main(String[] args) {
        System.exit(run(args, System.err));
    }

    public static int run(String[] args, PrintStream log) {
        Options o;
        try {
            o = parse(args);
        } catch (IllegalArgumentException e) {
            log.println("attune score: " + e.getMessage());
            log.println("attune score: run 'attune score --help' for its options");
            return 2;
        }
        // Checked here, on the driver, before any executor starts (and preloads a model).
        try {
            ModelCheck.Result model = preflight(o);
            log.println("attune score: model " + modelOf(o)
                    + (model.description().isEmpty() ? "" : " (" + model.description() + ")"));
        } catch (AttuneConfigException e) {
            log.println("attune score: " + e.getMessage());
            return 2;
        } catch (ModelFormatException | JobRefusal e) {
            fail(log, "", o, e);
            return 1;
        }
        SparkSession spark;
        try {
            spark = session(o);
        } catch (RuntimeException e) {
            fail(log, "Spark did not start: ", o, e);
            return 1;
        }
        try {
            return execute(spark, o, log) == null ? 1 : 0;
        } finally {
            if (o.master() != null) {
                spark.stop();
            }
        }
    }

    /** Scores with an existing session; returns the summary, or null after printing why the job failed. */
    static Summary execute(SparkSession spark, Options o, PrintStream log) {
        try {
            Summary s = score(spark, o, log);
            print(s, log);
            return s;
        } catch (JobRefusal e) {
            // Refused before anything was written: re-running the same command is refused again.
            fail(log, "", o, e);
            return null;
        } catch (Exception e) {
            fail(log, "FAILED: ", o, e);
            try {
                List<Integer> done = committed(spark, o);
                if (done.size() == o.chunks()) {
                    return null; // nothing left to score: the message says what to do
                }
                log.println("attune score: " + done.size() + " of " + o.chunks() + " chunks are committed and kept"
                        + (done.isEmpty() ? "" : " " + done) + "; once the cause is fixed, the same command scores "
                        + "only the others");
            } catch (IOException ignored) {
                // the failure above is what matters
            }
            return null;
        }
    }

    /** One line saying why (the root cause's message); the stack trace too under {@code --verbose}. */
    private static void fail(PrintStream log, String what, Options o, Throwable e) {
        String line = rootMessage(e);
        log.println("attune score: " + what + (line.startsWith("attune score: ") ? line.substring(14) : line));
        if (o.verbose()) {
            e.printStackTrace(log);
        }
    }

    /** The model the job scores with, as the job names it. */
    private static String modelOf(Options o) {
        return o.model() != null ? o.model() : AttuneConf.parse(driverConf(o)).model();
    }

    /**
     * This driver's settings: Spark's (system properties, which spark-submit sets from its
     * arguments and spark-defaults.conf), then {@code --conf}, {@code --simulate-devices} and
     * {@code --model}, as {@link #session} gives them to the session.
     */
    static Map<String, String> driverConf(Options o) {
        Map<String, String> conf = new LinkedHashMap<>();
        for (scala.Tuple2<String, String> kv : new org.apache.spark.SparkConf(true).getAll()) {
            conf.put(kv._1(), kv._2());
        }
        conf.putAll(o.conf());
        if (o.simulateDevices() != null) {
            conf.put("spark.attune.simulate.devices", o.simulateDevices());
        }
        if (o.model() != null) {
            conf.put("spark.attune.model", o.model());
        }
        return conf;
    }

    /**
     * The checks made before Spark starts: every {@code spark.attune.*} key, and the model the job
     * names, checked without loading its weights ({@link ModelLocator#check}) and against the task's
     * model family; a local input that does not exist (on a local master, or named with {@code file:}).
     * A local model directory missing on the driver of a cluster master is left to the executors
     * (models are often installed on the worker nodes only).
     *
     * @throws AttuneConfigException for a bad key or value
     * @throws ModelFormatException for a missing or broken model
     * @throws JobRefusal for a model of the wrong family for the task
     */
    static ModelCheck.Result preflight(Options o) {
        Map<String, String> conf = driverConf(o);
        AttuneSettings settings = AttuneConf.parse(conf);
        String master = o.master() != null ? o.master() : conf.getOrDefault("spark.master", "local");
        // On a cluster master a path without a scheme resolves against fs.defaultFS (often HDFS),
        // so only a local master or an explicit file: path is checked here.
        if (o.input() != null
                && (master.startsWith("local") || o.input().startsWith("file:"))
                && ModelLocator.isLocalPath(o.input())
                && !o.input().matches(".*[*?\\[{].*")
                && !java.nio.file.Files.exists(java.nio.file.Path.of(o.input().replaceFirst("^file:(//)?", "")))) {
            throw new JobRefusal("--input " + o.input() + " does not exist");
        }
        String model = settings.model();
        if (!master.startsWith("local") && ModelLocator.isLocalPath(model) && !ModelLocator.existsLocally(model)) {
            // Executors may have the model where this driver (an edge node) does not: they check it.
            return new ModelCheck.Result(o.task().family(), "not on this driver's host; the executors check it");
        }
        ModelCheck.Result m = ModelLocator.check(model, settings.hadoopOptions());
        ModelFamily want = o.task().family();
        if (m.family() != want) {
            String tasks = java.util.Arrays.stream(TaskKind.values())
                    .filter(t -> t.family() == m.family())
                    .map(TaskKind::id)
                    .collect(java.util.stream.Collectors.joining(" or "));
            throw new JobRefusal("model " + model + " is "
                    + (m.family() == ModelFamily.DECODER ? "a decoder" : "an encoder")
                    + (m.description().isEmpty() ? "" : " (" + m.description() + ")") + "; --task "
                    + o.task().id()
                    + " needs "
                    + (want == ModelFamily.DECODER
                            ? "a decoder (" + String.join(", ", new java.util.TreeSet<>(want.modelTypes())) + ")"
                            : "an encoder")
                    + ": give another model, or --task " + tasks);
        }
        return m;
    }

    static Options parse(String[] args) {
        Map<String, String> v = new LinkedHashMap<>();
        Map<String, String> conf = new LinkedHashMap<>();
        boolean pathDevice = false;
        boolean lengthNormalize = false;
        boolean verbose = false;
        List<String> valued = List.of(
                "input",
                "format",
                "table",
                "output",
                "task",
                "model",
                "text-col",
                "id-col",
                "chunks",
                "chunks-per-job",
                "partitions",
                "master",
                "simulate-devices",
                "prompt-col",
                "choices-col",
                "messages-col",
                "max-new-tokens",
                "temperature",
                "top-k",
                "top-p",
                "min-p",
                "repetition-penalty",
                "seed");
        List<String> stops = new ArrayList<>();
        int start = args.length > 0 && args[0].equals("score") ? 1 : 0;
        for (int i = start; i < args.length; i++) {
            String a = args[i];
            if (a.equals("--with-path-device")) {
                pathDevice = true;
            } else if (a.equals("--verbose")) {
                verbose = true;
            } else if (a.equals("--stop") && i + 1 < args.length) {
                stops.add(args[++i]);
            } else if (a.equals("--length-normalize")) {
                lengthNormalize = true;
            } else if (a.equals("--conf") && i + 1 < args.length) {
                String kv = args[++i];
                int eq = kv.indexOf('=');
                if (eq <= 0) {
                    throw new IllegalArgumentException("--conf needs key=value, got '" + kv + "'");
                }
                conf.put(kv.substring(0, eq), kv.substring(eq + 1));
            } else if (a.startsWith("--") && valued.contains(a.substring(2)) && i + 1 < args.length) {
                v.put(a.substring(2), args[++i]);
            } else {
                throw new IllegalArgumentException("unknown or incomplete option '" + a + "'");
            }
        }
        if (v.containsKey("input") == v.containsKey("table")) {
            throw new IllegalArgumentException("give exactly one of --input and --table");
        }
        if (!v.containsKey("output")) {
            throw new IllegalArgumentException("missing --output");
        }
        TaskKind task;
        try {
            task = TaskKind.parse(v.getOrDefault("task", "embed"));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("--" + e.getMessage());
        }
        if (task == TaskKind.CHOOSE && !v.containsKey("choices-col")) {
            throw new IllegalArgumentException(
                    "--task choose needs --choices-col (an array<string> column of candidates)");
        }
        if (task != TaskKind.CHOOSE && (v.containsKey("choices-col") || lengthNormalize)) {
            throw new IllegalArgumentException("--choices-col and --length-normalize are for --task choose");
        }
        if (task.family() != dev.attune.model.ModelFamily.DECODER && v.containsKey("prompt-col")) {
            throw new IllegalArgumentException("--prompt-col is for --task loglik or choose");
        }
        List<String> samplingFlags = List.of(
                "max-new-tokens",
                "temperature",
                "top-k",
                "top-p",
                "min-p",
                "repetition-penalty",
                "seed",
                "messages-col");
        SamplingParams sampling = null;
        if (task == TaskKind.GENERATE) {
            sampling = new SamplingParams(
                    number(v, "temperature", 0),
                    (int) number(v, "top-k", 0),
                    number(v, "top-p", 1),
                    number(v, "min-p", 0),
                    number(v, "repetition-penalty", 1),
                    0,
                    positive(v, "max-new-tokens", 64),
                    stops,
                    (long) number(v, "seed", 0));
        } else if (!stops.isEmpty() || samplingFlags.stream().anyMatch(v::containsKey)) {
            throw new IllegalArgumentException("--"
                    + (stops.isEmpty()
                            ? samplingFlags.stream()
                                    .filter(v::containsKey)
                                    .findFirst()
                                    .orElseThrow()
                            : "stop")
                    + " is for --task generate");
        }
        String confModel = conf.get("spark.attune.model");
        if (v.containsKey("model") && confModel != null && !confModel.equals(v.get("model"))) {
            throw new IllegalArgumentException("--model " + v.get("model") + " and --conf spark.attune.model="
                    + confModel + " name different models; give one");
        }
        int chunks = positive(v, "chunks", 16);
        int perJob = positive(v, "chunks-per-job", 4);
        return new Options(
                v.get("input"),
                v.get("format"),
                v.get("table"),
                v.get("output"),
                task,
                v.get("model"),
                v.getOrDefault("text-col", "text"),
                v.getOrDefault("id-col", "id"),
                chunks,
                perJob,
                v.containsKey("partitions") ? positive(v, "partitions", 1) : 0,
                pathDevice,
                v.get("master"),
                v.get("simulate-devices"),
                conf,
                v.get("prompt-col"),
                v.get("choices-col"),
                lengthNormalize,
                verbose,
                sampling,
                v.get("messages-col"));
    }

    private static double number(Map<String, String> v, String k, double d) {
        String s = v.get(k);
        if (s == null) {
            return d;
        }
        try {
            double x = Double.parseDouble(s);
            if (k.equals("top-k") || k.equals("seed")) {
                if (x != Math.rint(x)) {
                    throw new NumberFormatException();
                }
            }
            return x;
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("--" + k + " '" + s + "' is not "
                    + (k.equals("top-k") || k.equals("seed") ? "an integer" : "a number"));
        }
    }

    private static int positive(Map<String, String> v, String k, int d) {
        try {
            int n = Integer.parseInt(v.getOrDefault(k, String.valueOf(d)));
            if (n < 1) {
                throw new NumberFormatException();
            }
            return n;
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("--" + k + " must be a positive integer");
        }
    }

    /**
     * The active session (spark-submit), or one built from --master and the job's settings; {@code --model}
     * becomes {@code spark.attune.model}, so executors preload exactly the model the job scores with.
     */
    static SparkSession session(Options o) {
        SparkSession.Builder b = SparkSession.builder().appName("attune-score");
        if (o.master() != null) {
            b.master(o.master())
                    .config("spark.plugins", "dev.attune.spark.AttunePlugin")
                    .config("spark.driver.host", "127.0.0.1")
                    .config("spark.driver.bindAddress", "127.0.0.1")
                    .config("spark.ui.showConsoleProgress", "false")
                    .config("spark.executor.extraJavaOptions", SparkJvmFlags.JDK17)
                    .config("spark.executorEnv.DJL_OFFLINE", "true");
        }
        if (o.simulateDevices() != null) {
            b.config("spark.attune.simulate.devices", o.simulateDevices());
        }
        o.conf().forEach(b::config);
        if (o.model() != null) {
            // Executors preload spark.attune.model: it must be the model this job scores with.
            b.config("spark.attune.model", o.model());
        }
        return b.getOrCreate();
    }

    static Summary score(SparkSession spark, Options o, PrintStream log) throws IOException {
        Path out = new Path(o.output());
        FileSystem fs = out.getFileSystem(spark.sparkContext().hadoopConfiguration());
        checkOutput(fs, o);
        Path meta = new Path(out, "_attune");
        try (OutputLock ignored = OutputLock.acquire(fs, meta, o.output())) {
            removeStaging(fs, meta, log);
            return scoreLocked(spark, o, fs, out, meta, log);
        }
    }

    /**
     * Refuses an output that is the input, lies inside it or holds it, and an existing output that
     * is not a directory this job wrote (no {@code _attune/job.json}) unless it is empty.
     */
    private static void checkOutput(FileSystem fs, Options o) throws IOException {
        Path out = fs.makeQualified(new Path(o.output()));
        if (o.input() != null) {
            Path in = fs.makeQualified(new Path(o.input()));
            String a = out.toString().replaceAll("/+$", "");
            String b = in.toString().replaceAll("/+$", "");
            if (a.equals(b) || a.startsWith(b + "/") || b.startsWith(a + "/")) {
                throw new JobRefusal("--output " + o.output() + " and --input " + o.input()
                        + (a.equals(b)
                                ? " are the same path"
                                : a.startsWith(b + "/")
                                        ? ": the output is inside the input"
                                        : ": the input is inside the output")
                        + "; give an output outside the input");
            }
        }
        if (!fs.exists(out)) {
            return;
        }
        if (!fs.getFileStatus(out).isDirectory()) {
            throw new JobRefusal("--output " + o.output() + " is a file; the job writes a directory: give a new path");
        }
        if (!fs.exists(new Path(out, "_attune/job.json")) && fs.listStatus(out).length > 0) {
            throw new JobRefusal(
                    "--output " + o.output() + " exists and is not an Attune output (no _attune/job.json); "
                            + "give a new path, or an empty directory");
        }
    }

    /** Staging directories of runs that were killed before they moved their chunks (this run holds the lock). */
    private static void removeStaging(FileSystem fs, Path meta, PrintStream log) throws IOException {
        if (!fs.exists(meta)) {
            return;
        }
        int n = 0;
        for (FileStatus f : fs.listStatus(meta)) {
            if (f.isDirectory() && f.getPath().getName().startsWith("staging-")) {
                fs.delete(f.getPath(), true);
                n++;
            }
        }
        if (n > 0) {
            log.printf(
                    "attune score: removed %d staging director%s left by an earlier run that did not finish%n",
                    n, n == 1 ? "y" : "ies");
        }
    }

    private static Summary scoreLocked(
            SparkSession spark, Options o, FileSystem fs, Path out, Path meta, PrintStream log) throws IOException {
        long t0 = System.nanoTime();
        Dataset<Row> input = read(spark, o);
        List<String> needed = new ArrayList<>(List.of(o.idCol()));
        needed.addAll(o.inputCols());
        for (String c : needed) {
            if (!Arrays.asList(input.columns()).contains(c)) {
                throw new JobRefusal(
                        "input has no column '" + c + "'; columns are " + Arrays.toString(input.columns()));
            }
        }
        checkSettings(fs, meta, o, spark);
        boolean inputErrors = Arrays.asList(input.columns()).contains(JobInput.ERROR_COL);
        InputCounts inputCounts = countRecords(spark, input, inputErrors, o.idCol(), log);
        long recordsRead = inputCounts.records();
        if (inputErrors) {
            input = input.filter(functions.not(functions.col(JobInput.BLANK)));
        }

        Column chunkOf = functions.pmod(functions.hash(functions.col(o.idCol())), functions.lit(o.chunks()));
        List<Column> selected = new ArrayList<>();
        for (String c : needed) {
            selected.add(functions.col(c));
        }
        if (inputErrors) {
            selected.add(functions.col(JobInput.ERROR_COL));
        }
        selected.add(chunkOf.as("attune_chunk"));
        Dataset<Row> chunked = input.select(selected.toArray(new Column[0]));
        List<Integer> todo = new ArrayList<>();
        for (int k = 0; k < o.chunks(); k++) {
            if (!fs.exists(new Path(meta, "chunk-" + k + ".done"))) {
                todo.add(k);
            }
        }
        log.printf(
                "attune score: %d of %d chunks to score (%d already committed), %d chunks per job%n",
                todo.size(), o.chunks(), o.chunks() - todo.size(), o.chunksPerJob());
        AttuneTextTransformer scorer = transformer(o, spark);
        int partitions =
                o.partitions() > 0 ? o.partitions() : 2 * spark.sparkContext().defaultParallelism();
        long rowsThisRun = 0;
        int waves = (todo.size() + o.chunksPerJob() - 1) / o.chunksPerJob();
        for (int w = 0; w < waves; w++) {
            List<Integer> wave = todo.subList(w * o.chunksPerJob(), Math.min(todo.size(), (w + 1) * o.chunksPerJob()));
            long tw = System.nanoTime();
            spark.sparkContext().setJobDescription("attune score: wave " + (w + 1) + "/" + waves + ", chunks " + wave);
            Path staging = new Path(meta, "staging-" + UUID.randomUUID());
            // Spread the wave over the cluster: a small input file is a single partition.
            Dataset<Row> part = chunked.filter(functions.col("attune_chunk").isin(wave.toArray()))
                    .repartition(partitions);
            Dataset<Row> scored = scorer.transform(part);
            List<Column> cols = new ArrayList<>();
            cols.add(functions.col(o.idCol()));
            for (String c : scored.columns()) {
                if (c.equals(o.idCol()) || o.inputCols().contains(c) || c.equals(JobInput.ERROR_COL)) {
                    continue;
                }
                if (c.equals(ERROR_COL) && inputErrors) {
                    // A record that could not be read is a failed row, kept with its file and line.
                    cols.add(functions
                            .coalesce(functions.col(JobInput.ERROR_COL), functions.col(c))
                            .as(c));
                    continue;
                }
                if (c.equals(RESULT_COL) && o.task() == TaskKind.LOGLIK) {
                    for (String f : List.of("logprob", "mean_logprob", "tokens")) {
                        cols.add(functions.col(RESULT_COL + "." + f).as(f));
                    }
                } else if (c.equals(RESULT_COL) && o.task() == TaskKind.GENERATE) {
                    for (String f : List.of(
                            "text",
                            "tokens",
                            "prompt_tokens",
                            "completion_tokens",
                            "finish_reason",
                            "token_logprobs")) {
                        cols.add(functions.col(RESULT_COL + "." + f).as(f));
                    }
                } else if (c.equals(RESULT_COL) && o.task() == TaskKind.CHOOSE) {
                    cols.add(functions.col(RESULT_COL + ".label").as("label"));
                    cols.add(functions.col(RESULT_COL + ".index").as("label_index"));
                    cols.add(functions.col(RESULT_COL + ".scores").as("scores"));
                } else {
                    cols.add(functions.col(c));
                }
            }
            try {
                scored.select(cols.toArray(new Column[0]))
                        .write()
                        .partitionBy("attune_chunk")
                        .parquet(staging.toString());
            } catch (RuntimeException e) {
                fs.delete(staging, true); // the wave's partial files: nothing of it was committed
                throw e;
            }
            for (int k : wave) {
                Path src = new Path(staging, "attune_chunk=" + k);
                Path dst = new Path(out, "chunk=" + k);
                if (fs.exists(dst)) {
                    fs.delete(dst, true); // left by a run that died between the move and the marker
                }
                long n = 0;
                if (fs.exists(src)) {
                    for (FileStatus f : fs.listStatus(src)) {
                        n += f.getPath().getName().endsWith(".parquet") ? 1 : 0;
                    }
                    if (!fs.rename(src, dst)) {
                        throw new IOException("cannot move " + src + " to " + dst);
                    }
                } else {
                    fs.mkdirs(dst); // a chunk no id hashed to
                }
                try (var os = fs.create(new Path(meta, "chunk-" + k + ".done"), true)) {
                    os.write(("files=" + n + "\n").getBytes(StandardCharsets.UTF_8));
                }
            }
            fs.delete(staging, true);
            String[] waveDirs = wave.stream()
                    .map(k -> new Path(out, "chunk=" + k).toString())
                    .filter(d -> hasParquet(fs, d))
                    .toArray(String[]::new);
            long waveRows =
                    waveDirs.length == 0 ? 0 : spark.read().parquet(waveDirs).count();
            rowsThisRun += waveRows;
            log.printf(
                    "attune score: wave %d/%d (chunks %s) committed: %d rows in %.1f s%n",
                    w + 1, waves, wave, waveRows, (System.nanoTime() - tw) / 1e9);
        }
        Summary s = summarize(spark, fs, out, o, recordsRead, rowsThisRun, (System.nanoTime() - t0) / 1e9);
        ObjectNode counts = new ObjectMapper().createObjectNode();
        counts.put("recordsRead", s.recordsRead());
        counts.put("rowsWritten", s.rowsWritten());
        counts.put("rowsFailed", s.failedRows());
        counts.put("unreadableRecords", inputCounts.unreadable());
        counts.put("blankLines", inputCounts.blankLines());
        counts.put("duplicateIds", inputCounts.duplicateIds());
        try (var os = fs.create(new Path(meta, "counts.json"), true)) {
            os.write(new ObjectMapper().writerWithDefaultPrettyPrinter().writeValueAsBytes(counts));
        }
        if (s.recordsRead() != s.totalRows()) {
            throw new IllegalStateException("records read (" + s.recordsRead() + ") != rows written ("
                    + s.rowsWritten() + ") + rows failed (" + s.failedRows() + ") in " + o.output()
                    + ": records were lost or the output holds rows of another input; score into a new output");
        }
        return s;
    }

    /** What the job read: records, and the lines and ids worth a word. */
    record InputCounts(long records, long unreadable, long blankLines, long duplicateIds, String duplicateExample) {}

    /**
     * Counts the input's records (one pass over the input, and one over its ids for duplicates).
     * Under {@code spark.attune.onError=fail} a record that cannot be read stops the job here,
     * naming its file and line, before anything is scored.
     */
    private static InputCounts countRecords(
            SparkSession spark, Dataset<Row> input, boolean inputErrors, String idCol, PrintStream log) {
        long read;
        long bad = 0;
        long blank = 0;
        if (!inputErrors) {
            read = input.count();
        } else {
            Column err = functions.col(JobInput.ERROR_COL);
            Column isBlank = functions.col(JobInput.BLANK);
            Row r = input.agg(
                            functions.count(functions.when(functions.not(isBlank), functions.lit(1))),
                            functions.count(err),
                            functions.min(functions.when(
                                    err.isNotNull(),
                                    functions.struct(functions.col(JobInput.FILE), functions.col(JobInput.LINE), err))),
                            functions.count(functions.when(isBlank, functions.lit(1))))
                    .first();
            read = r.getLong(0);
            bad = r.getLong(1);
            blank = r.getLong(3);
            if (bad > 0) {
                String first = r.getStruct(2).getString(2);
                if (SparkSettings.of(spark).onError() == dev.attune.runtime.OnError.FAIL) {
                    throw new JobRefusal(first + " (" + bad + " of " + read + " records cannot be read; "
                            + "set spark.attune.onError=null to score the others and keep these as failed rows)");
                }
                log.printf(
                        "attune score: %d of %d records cannot be read, kept as failed rows in %s; the first: %s%n",
                        bad, read, ERROR_COL, first);
            }
            if (blank > 0) {
                log.printf("attune score: %d blank lines skipped (not records)%n", blank);
            }
        }
        Dataset<Row> ids = inputErrors ? input.filter(functions.not(functions.col(JobInput.BLANK))) : input;
        Row d = ids.filter(functions.col(idCol).isNotNull())
                .groupBy(functions.col(idCol))
                .count()
                .filter(functions.col("count").gt(1))
                .agg(
                        functions.count(functions.lit(1)),
                        functions.min(functions.col(idCol).cast(org.apache.spark.sql.types.DataTypes.StringType)))
                .first();
        long duplicates = d.getLong(0);
        String example = d.isNullAt(1) ? null : d.getString(1);
        if (duplicates > 0) {
            log.printf(
                    "attune score: %s more than once (e.g. %s = %s); each occurrence is scored and written%n",
                    duplicates == 1 ? "1 id occurs" : duplicates + " ids occur", idCol, example);
        }
        return new InputCounts(read, bad, blank, duplicates, example);
    }

    private static boolean hasParquet(FileSystem fs, String dir) {
        try {
            for (FileStatus f : fs.listStatus(new Path(dir))) {
                if (f.getPath().getName().endsWith(".parquet")) {
                    return true;
                }
            }
            return false;
        } catch (IOException e) {
            return false;
        }
    }

    private static Summary summarize(
            SparkSession spark, FileSystem fs, Path out, Options o, long recordsRead, long rowsThisRun, double seconds)
            throws IOException {
        List<String> dirs = new ArrayList<>();
        for (int k = 0; k < o.chunks(); k++) {
            String d = new Path(out, "chunk=" + k).toString();
            if (hasParquet(fs, d)) {
                dirs.add(d);
            }
        }
        Map<String, Long> perDevicePath = new LinkedHashMap<>();
        long total = 0;
        long failed = 0;
        if (!dirs.isEmpty()) {
            Dataset<Row> all = spark.read().parquet(dirs.toArray(new String[0]));
            total = all.count();
            if (Arrays.asList(all.columns()).contains("device")) {
                for (Row r : all.groupBy("device", "path")
                        .count()
                        .orderBy("device", "path")
                        .collectAsList()) {
                    perDevicePath.put(r.getString(0) + " / " + r.getString(1), r.getLong(2));
                }
            }
            if (Arrays.asList(all.columns()).contains("attune_error")) {
                failed = all.filter(functions.col("attune_error").isNotNull()).count();
            }
        }
        return new Summary(
                recordsRead, rowsThisRun, seconds, total, perDevicePath, failed, committed(spark, o), o.chunks());
    }

    static List<Integer> committed(SparkSession spark, Options o) throws IOException {
        Path meta = new Path(new Path(o.output()), "_attune");
        FileSystem fs = meta.getFileSystem(spark.sparkContext().hadoopConfiguration());
        List<Integer> done = new ArrayList<>();
        for (int k = 0; k < o.chunks(); k++) {
            if (fs.exists(new Path(meta, "chunk-" + k + ".done"))) {
                done.add(k);
            }
        }
        return done;
    }

    private static void print(Summary s, PrintStream log) {
        log.printf(
                "attune score: done. %d rows this run in %.1f s (%.1f rows/s); %d rows in the output; %d failed rows%n",
                s.rowsThisRun(),
                s.seconds(),
                s.rowsThisRun() / Math.max(s.seconds(), 1e-9),
                s.totalRows(),
                s.failedRows());
        log.printf(
                "attune score: records read %d = rows written %d + rows failed %d%n",
                s.recordsRead(), s.rowsWritten(), s.failedRows());
        if (!s.perDevicePath().isEmpty()) {
            log.println("attune score: rows per device / path:");
            s.perDevicePath().forEach((k, v) -> log.printf("  %-60s %d%n", k, v));
        }
        String table = ClusterInventory.showTable();
        if (table.lines().count() > 1) {
            log.println("attune score: cluster devices:");
            log.print(table);
        }
    }

    private static Dataset<Row> read(SparkSession spark, Options o) {
        if (o.table() != null) {
            return spark.table(o.table());
        }
        String f = o.format() != null ? o.format().toLowerCase(Locale.ROOT) : guess(o.input());
        return switch (f) {
            case "parquet" -> spark.read().parquet(o.input());
            case "json" -> JobInput.jsonLines(spark, o.input(), o.idCol(), o.textCol());
            case "csv" -> {
                JobInput.checkCsv(spark, o.input());
                yield spark.read()
                        .option("header", "true")
                        .option("multiLine", "true")
                        .option("escape", "\"")
                        .option("mode", "FAILFAST")
                        .csv(o.input());
            }
            default -> throw new IllegalArgumentException("--format must be parquet, json or csv, got '" + f + "'");
        };
    }

    private static String guess(String input) {
        String s = input.toLowerCase(Locale.ROOT);
        if (s.endsWith(".json") || s.endsWith(".jsonl") || s.endsWith(".ndjson")) {
            return "json";
        }
        if (s.endsWith(".csv")) {
            return "csv";
        }
        return "parquet";
    }

    /** The decoder tasks' result struct, flattened into the output's columns. */
    private static final String RESULT_COL = "attune_result";

    /** The transformers' error column (with spark.attune.onError=null): the reason a row failed. */
    private static final String ERROR_COL = "attune_error";

    private static AttuneTextTransformer transformer(Options o, SparkSession spark) {
        String model = o.model() != null ? o.model() : SparkSettings.of(spark).model();
        AttuneTextTransformer t = switch (o.task()) {
            case EMBED -> new TextEmbedder();
            case CLASSIFY -> new TextClassifier();
            case LOGLIK -> {
                SequenceScorer s = new SequenceScorer().setOutputCol(RESULT_COL);
                yield o.promptCol() == null ? s : s.setPromptCol(o.promptCol());
            }
            case GENERATE -> {
                SamplingParams p = o.sampling();
                TextGenerator g = new TextGenerator()
                        .setOutputCol(RESULT_COL)
                        .setMaxNewTokens(p.maxNewTokens())
                        .setTemperature(p.temperature())
                        .setTopK(p.topK())
                        .setTopP(p.topP())
                        .setMinP(p.minP())
                        .setRepetitionPenalty(p.repetitionPenalty())
                        .setStop(p.stop().toArray(new String[0]))
                        .setSeed(p.seed())
                        .setKeyCol(o.idCol()); // each id's text is the same whichever run or partition makes it
                yield o.messagesCol() == null ? g : g.setMessagesCol(o.messagesCol());
            }
            case CHOOSE ->
                new SequenceScorer()
                        .setOutputCol(RESULT_COL)
                        .setChoicesCol(o.choicesCol())
                        .setLengthNormalize(o.lengthNormalize());
        };
        t.set(t.model(), model);
        t.set(t.inputCol(), o.task() == TaskKind.CHOOSE && o.promptCol() != null ? o.promptCol() : o.textCol());
        t.set(t.idCol(), o.idCol());
        if (o.withPathDevice()) {
            t.set(t.pathCol(), "path");
            t.set(t.deviceCol(), "device");
        }
        return t;
    }

    /** The settings the output was first written with must match this run's. */
    private static void checkSettings(FileSystem fs, Path meta, Options o, SparkSession spark) throws IOException {
        ObjectMapper json = new ObjectMapper();
        ObjectNode want = json.createObjectNode();
        want.put("task", o.task().id());
        want.put(
                "model", o.model() != null ? o.model() : SparkSettings.of(spark).model());
        want.put("textCol", o.textCol());
        want.put("idCol", o.idCol());
        want.put("chunks", o.chunks());
        want.put("withPathDevice", o.withPathDevice());
        if (o.task().family() == dev.attune.model.ModelFamily.DECODER) {
            // Only decoder tasks record these, so outputs written before they existed still match.
            want.put("promptCol", o.promptCol());
            want.put("choicesCol", o.choicesCol());
            want.put("lengthNormalize", o.lengthNormalize());
        }
        if (o.task() == TaskKind.GENERATE) {
            // What changes the generated text: resuming with other sampling would mix two outputs.
            want.put("messagesCol", o.messagesCol());
            want.set("sampling", json.valueToTree(o.sampling()));
        }
        Path f = new Path(meta, "job.json");
        if (fs.exists(f)) {
            try (var in = fs.open(f)) {
                var have = json.readTree(in);
                // Compared as written: a long that fits an int reads back as an int node.
                if (!have.equals(json.readTree(json.writeValueAsString(want)))) {
                    throw new JobRefusal("output " + o.output() + " was written with other settings " + have
                            + "; this run has " + want + ": use a new output path or the same settings");
                }
            }
            return;
        }
        fs.mkdirs(meta);
        try (var os = fs.create(f, false)) {
            os.write(json.writerWithDefaultPrettyPrinter().writeValueAsBytes(want));
        }
    }

    /**
     * The message to show for {@code e}: that of the outermost Attune failure in its causes (a row's
     * failure, a model, setting or refusal: they name what is wrong and where), else the deepest cause's.
     */
    private static String rootMessage(Throwable e) {
        String deepest = e.getMessage();
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof dev.attune.runtime.RowFailure
                    || t instanceof ModelFormatException
                    || t instanceof AttuneConfigException
                    || t instanceof JobRefusal) {
                return t.getMessage();
            }
            if (t.getMessage() != null) {
                deepest = t.getMessage();
            }
        }
        return deepest;
    }
}

package dev.attune.spark.ml;

import dev.attune.runtime.OnError;
import dev.attune.task.TaskKind;
import dev.attune.task.generate.SamplingParams;
import java.util.Arrays;
import java.util.List;
import org.apache.spark.ml.param.BooleanParam;
import org.apache.spark.ml.param.DoubleParam;
import org.apache.spark.ml.param.IntParam;
import org.apache.spark.ml.param.LongParam;
import org.apache.spark.ml.param.Param;
import org.apache.spark.ml.param.ParamValidators;
import org.apache.spark.ml.param.StringArrayParam;
import org.apache.spark.ml.util.Identifiable;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Encoders;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.types.ArrayType;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;

/**
 * Spark ML transformer that generates text with a Llama-family decoder (llama, mistral, qwen2,
 * qwen3) after each row's prompt: the input column (a string), or with {@code messagesCol} an
 * {@code array<struct<role: string, content: string>>} of chat messages rendered by the model's
 * chat template with the assistant's turn opened. Appends {@link #GENERATION_TYPE}
 * {@code struct<text: string, tokens: array<int>, prompt_tokens: int, completion_tokens: int,
 * finish_reason: string, token_logprobs: array<float>>}: the generated text (up to a stop
 * string), the generated token ids, the prompt's and the completion's token counts, {@code stop}
 * (an end-of-sequence id of the model's generation_config, or a stop string) or {@code length}
 * ({@code maxNewTokens}), and each generated token's log-probability under the model (the log
 * softmax of its raw logits, before temperature, penalties or truncation). A null
 * prompt gives a null struct. The output column defaults to {@code generation}.
 *
 * <pre>{@code
 * Dataset<Row> out = new TextGenerator().setModel("/models/qwen").setInputCol("prompt")
 *     .setMaxNewTokens(128).setTemperature(0.7).setTopP(0.9).setSeed(42).setKeyCol("id")
 *     .transform(df);
 * out.select("id", "generation.text", "generation.finish_reason");
 * }</pre>
 *
 * <p>Sampling: greedy at temperature 0 (the default); otherwise temperature, {@code topK},
 * {@code topP}, {@code minP}, {@code repetitionPenalty} and {@code presencePenalty}. Each row's
 * random stream is seeded from {@code seed} and the row's key ({@code keyCol}, else the prompt),
 * so a retried task or another partitioning reproduces every row exactly.
 *
 * <p>Each partition is read in chunks of 1024 rows; a chunk's rows are generated together with
 * continuous batching: up to {@code maxActive} sequences (0 = spark.attune.batch.size, else 16)
 * decode together, a finished one's place is taken at once, prompts are prefilled in chunks of at
 * most {@code maxTokens} tokens per pass (0 = spark.attune.batch.maxTokens, at most 2048), and the
 * paged KV cache is sized from the device's memory; rows keep their order.
 *
 * <p>Failure: a prompt whose tokens and {@code maxNewTokens} exceed the model's context (unless
 * {@code truncateLeft} keeps its last tokens), a chat
 * template that fails on a row, or logits that are not finite fail the task naming the row; with
 * {@code onError=null} the row gets a null result and the reason in {@code errorCol}. A model
 * without a chat template given messages, or an encoder, fails the task.
 */
public class TextGenerator extends AttuneTextTransformer {

    /** The generation result. */
    public static final StructType GENERATION_TYPE = DataTypes.createStructType(new StructField[] {
        DataTypes.createStructField("text", DataTypes.StringType, false),
        DataTypes.createStructField("tokens", DataTypes.createArrayType(DataTypes.IntegerType, false), false),
        DataTypes.createStructField("prompt_tokens", DataTypes.IntegerType, false),
        DataTypes.createStructField("completion_tokens", DataTypes.IntegerType, false),
        DataTypes.createStructField("finish_reason", DataTypes.StringType, false),
        DataTypes.createStructField("token_logprobs", DataTypes.createArrayType(DataTypes.FloatType, false), false)
    });

    /** The chat messages column type {@code messagesCol} takes. */
    public static final DataType MESSAGES_TYPE =
            DataTypes.createArrayType(DataTypes.createStructType(new StructField[] {
                DataTypes.createStructField("role", DataTypes.StringType, true),
                DataTypes.createStructField("content", DataTypes.StringType, true)
            }));

    public final Param<String> messagesCol;
    public final Param<String> keyCol;
    public final IntParam maxNewTokens;
    public final DoubleParam temperature;
    public final IntParam topK;
    public final DoubleParam topP;
    public final DoubleParam minP;
    public final DoubleParam repetitionPenalty;
    public final DoubleParam presencePenalty;
    public final StringArrayParam stop;
    public final LongParam seed;
    public final IntParam maxActive;
    public final IntParam maxTokens;
    public final BooleanParam truncateLeft;

    public TextGenerator() {
        this(Identifiable.randomUID("attuneTextGenerator"));
    }

    public TextGenerator(String uid) {
        super(uid, "generation");
        messagesCol = new Param<>(
                this,
                "messagesCol",
                "array<struct<role, content>> column of chat messages, rendered by the model's chat template; "
                        + "empty = the input column is the prompt");
        keyCol = new Param<>(this, "keyCol", "column whose value seeds each row's random stream; empty = the prompt");
        maxNewTokens = new IntParam(this, "maxNewTokens", "generated tokens at most", ParamValidators.gtEq(1));
        temperature =
                new DoubleParam(this, "temperature", "0 = greedy; logits are divided by it", ParamValidators.gtEq(0));
        topK = new IntParam(this, "topK", "keep the k most likely tokens; 0 = all", ParamValidators.gtEq(0));
        topP = new DoubleParam(
                this,
                "topP",
                "nucleus: keep tokens up to this probability mass; 1 = all",
                ParamValidators.inRange(0, 1, false, true));
        minP = new DoubleParam(
                this,
                "minP",
                "keep tokens at least this fraction of the top probability; 0 = all",
                ParamValidators.inRange(0, 1, true, false));
        repetitionPenalty =
                new DoubleParam(this, "repetitionPenalty", "HF's repetition penalty; 1 = off", ParamValidators.gt(0));
        presencePenalty = new DoubleParam(this, "presencePenalty", "subtracted from generated tokens' logits; 0 = off");
        stop = new StringArrayParam(this, "stop", "strings that end a row's generation (not part of its text)");
        seed = new LongParam(this, "seed", "sampling seed, mixed with each row's key");
        maxActive = new IntParam(
                this,
                "maxActive",
                "sequences decoded together; 0 = spark.attune.batch.size, else 16",
                ParamValidators.gtEq(0));
        maxTokens = new IntParam(
                this,
                "maxTokens",
                "tokens one pass feeds at most; 0 = spark.attune.batch.maxTokens (at most 2048)",
                ParamValidators.gtEq(0));
        truncateLeft = new BooleanParam(
                this,
                "truncateLeft",
                "a prompt that leaves no room for maxNewTokens in the context keeps its last tokens instead of failing");
        setDefault(truncateLeft, false);
        setDefault(messagesCol, "");
        setDefault(keyCol, "");
        setDefault(maxNewTokens, 64);
        setDefault(temperature, 0.0);
        setDefault(topK, 0);
        setDefault(topP, 1.0);
        setDefault(minP, 0.0);
        setDefault(repetitionPenalty, 1.0);
        setDefault(presencePenalty, 0.0);
        setDefault(stop, new String[0]);
        setDefault(seed, 0L);
        setDefault(maxActive, 0);
        setDefault(maxTokens, 0);
    }

    @Override
    TaskKind task() {
        return TaskKind.GENERATE;
    }

    @Override
    StructField[] resultFields() {
        return new StructField[] {DataTypes.createStructField(getOutputCol(), GENERATION_TYPE, true)};
    }

    /** The sampling parameters the params give; invalid combinations are an IllegalArgumentException. */
    public SamplingParams samplingParams() {
        return new SamplingParams(
                (Double) $(temperature),
                (Integer) $(topK),
                (Double) $(topP),
                (Double) $(minP),
                (Double) $(repetitionPenalty),
                (Double) $(presencePenalty),
                (Integer) $(maxNewTokens),
                List.of($(stop)),
                (Long) $(seed));
    }

    @Override
    public StructType transformSchema(StructType schema) {
        String name = getClass().getSimpleName();
        if ((Integer) $(maxLength) > 0) {
            throw new IllegalArgumentException(
                    name + ": maxLength does not apply to generation; a prompt that does not "
                            + "fit the context with maxNewTokens is a row error");
        }
        try {
            samplingParams();
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(name + ": " + e.getMessage(), e);
        }
        String messages = $(messagesCol);
        if (!messages.isEmpty()) {
            if (!Arrays.asList(schema.fieldNames()).contains(messages)) {
                throw new IllegalArgumentException(name + ": messages column '" + messages
                        + "' does not exist; columns are " + Arrays.toString(schema.fieldNames()));
            }
            DataType t = schema.apply(messages).dataType();
            if (!(t instanceof ArrayType a)
                    || !(a.elementType() instanceof StructType st)
                    || !Arrays.asList(st.fieldNames()).containsAll(List.of("role", "content"))
                    || !st.apply("role").dataType().equals(DataTypes.StringType)
                    || !st.apply("content").dataType().equals(DataTypes.StringType)) {
                throw new IllegalArgumentException(name + ": messages column '" + messages
                        + "' must be array<struct<role: string, content: string>>, it is " + t.simpleString());
            }
        }
        String key = $(keyCol);
        if (!key.isEmpty() && !Arrays.asList(schema.fieldNames()).contains(key)) {
            throw new IllegalArgumentException(name + ": key column '" + key + "' does not exist; columns are "
                    + Arrays.toString(schema.fieldNames()));
        }
        if (!messages.isEmpty()) {
            return withResults(schema); // the prompt is the messages column; the input column is not read
        }
        return super.transformSchema(schema);
    }

    @Override
    public Dataset<Row> transform(Dataset<?> dataset) {
        StructType out = transformSchema(dataset.schema());
        StructType in = dataset.schema();
        String id = $(idCol);
        boolean nullOnError = nullOnError();
        boolean messages = !$(messagesCol).isEmpty();
        GeneratePartition.Settings s = new GeneratePartition.Settings(
                getModel(),
                samplingParams(),
                (Integer) $(maxActive),
                (Integer) $(maxTokens),
                nullOnError ? OnError.NULL : OnError.FAIL,
                messages ? -1 : in.fieldIndex(getInputCol()),
                messages ? in.fieldIndex($(messagesCol)) : -1,
                $(keyCol).isEmpty() ? -1 : in.fieldIndex($(keyCol)),
                id.isEmpty() ? -1 : in.fieldIndex(id),
                !$(pathCol).isEmpty(),
                !$(deviceCol).isEmpty(),
                nullOnError,
                (Boolean) $(truncateLeft));
        return dataset.toDF().mapPartitions(new GeneratePartition(s), Encoders.row(out));
    }

    // Spark ML finds a transformer's params by its public no-argument methods returning them.

    public Param<String> messagesCol() {
        return messagesCol;
    }

    public Param<String> keyCol() {
        return keyCol;
    }

    public IntParam maxNewTokens() {
        return maxNewTokens;
    }

    public DoubleParam temperature() {
        return temperature;
    }

    public IntParam topK() {
        return topK;
    }

    public DoubleParam topP() {
        return topP;
    }

    public DoubleParam minP() {
        return minP;
    }

    public DoubleParam repetitionPenalty() {
        return repetitionPenalty;
    }

    public DoubleParam presencePenalty() {
        return presencePenalty;
    }

    public StringArrayParam stop() {
        return stop;
    }

    public LongParam seed() {
        return seed;
    }

    public IntParam maxActive() {
        return maxActive;
    }

    public IntParam maxTokens() {
        return maxTokens;
    }

    public BooleanParam truncateLeft() {
        return truncateLeft;
    }

    public TextGenerator setTruncateLeft(boolean v) {
        set(truncateLeft, v);
        return this;
    }

    public TextGenerator setModel(String v) {
        set(model, v);
        return this;
    }

    public TextGenerator setInputCol(String v) {
        set(inputCol, v);
        return this;
    }

    public TextGenerator setMessagesCol(String v) {
        set(messagesCol, v);
        return this;
    }

    public TextGenerator setKeyCol(String v) {
        set(keyCol, v);
        return this;
    }

    public TextGenerator setOutputCol(String v) {
        set(outputCol, v);
        return this;
    }

    public TextGenerator setMaxNewTokens(int v) {
        set(maxNewTokens, v);
        return this;
    }

    public TextGenerator setTemperature(double v) {
        set(temperature, v);
        return this;
    }

    public TextGenerator setTopK(int v) {
        set(topK, v);
        return this;
    }

    public TextGenerator setTopP(double v) {
        set(topP, v);
        return this;
    }

    public TextGenerator setMinP(double v) {
        set(minP, v);
        return this;
    }

    public TextGenerator setRepetitionPenalty(double v) {
        set(repetitionPenalty, v);
        return this;
    }

    public TextGenerator setPresencePenalty(double v) {
        set(presencePenalty, v);
        return this;
    }

    public TextGenerator setStop(String... v) {
        set(stop, v);
        return this;
    }

    public TextGenerator setSeed(long v) {
        set(seed, v);
        return this;
    }

    public TextGenerator setMaxActive(int v) {
        set(maxActive, v);
        return this;
    }

    public TextGenerator setMaxTokens(int v) {
        set(maxTokens, v);
        return this;
    }

    public TextGenerator setIdCol(String v) {
        set(idCol, v);
        return this;
    }

    public TextGenerator setPathCol(String v) {
        set(pathCol, v);
        return this;
    }

    public TextGenerator setDeviceCol(String v) {
        set(deviceCol, v);
        return this;
    }

    public TextGenerator setOnError(String v) {
        set(onError, v);
        return this;
    }
}

package dev.attune.spark.ml;

import dev.attune.runtime.OnError;
import dev.attune.task.TaskKind;
import java.util.Arrays;
import org.apache.spark.ml.param.BooleanParam;
import org.apache.spark.ml.param.IntParam;
import org.apache.spark.ml.param.Param;
import org.apache.spark.ml.param.ParamValidators;
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
 * Spark ML transformer that scores a text column with a Llama-family decoder (llama, mistral,
 * qwen2, qwen3), in one of two modes:
 * <ul>
 *   <li><b>log-likelihood</b> (default): appends {@link #LOGLIK_TYPE}
 *   {@code struct<logprob: double, mean_logprob: double, tokens: int, token_logprobs: array<float>>}:
 *   the sum of the natural-log probabilities of the scored tokens, their mean, how many tokens
 *   were scored and each scored token's log-probability in order. A text alone scores every
 *   token after the first; with {@code promptCol} the text is a completion of the prompt and only
 *   the completion's tokens are scored (the row is tokenized as {@code prompt + text}). A null
 *   text gives a null struct (a null prompt scores the text alone).</li>
 *   <li><b>label choice</b> ({@code choicesCol}, an {@code array<string>} column): the input
 *   column is the prompt and each candidate is scored as its completion; appends
 *   {@link #CHOICE_TYPE} {@code struct<label: string, index: int, scores: array<double>>}: the
 *   best candidate, its index, and every candidate's score (the sum of log-probabilities, or the
 *   mean per token with {@code lengthNormalize}). A null prompt or null candidates give null.</li>
 * </ul>
 * The output column defaults to {@code loglik}, or {@code choice} in label-choice mode.
 *
 * <pre>{@code
 * Dataset<Row> out = new SequenceScorer().setModel("/models/llama").setInputCol("text")
 *     .setPromptCol("prompt").setOutputCol("ll").transform(df);
 * out.select("id", "ll.logprob", "ll.tokens");
 * }</pre>
 *
 * <p>Partitions are read in chunks of 1024 rows and scored in length-bucketed batches of
 * {@code batchSize} rows (0 = spark.attune.batch.size, else 16) and {@code maxTokens} tokens
 * (0 = spark.attune.batch.maxTokens); rows keep their order. The model is loaded once per
 * executor; real GPUs compute decoder work on the CPU in this build (logged).
 *
 * <p>Failure: a row longer than the model's context ({@code max_position_embeddings}) fails the
 * task naming the row, unless {@code truncateLeft} keeps its last tokens; with
 * {@code onError=null} a failed row gets a null result and the reason in {@code errorCol}. A
 * model directory that holds an encoder fails the task with a message saying so.
 * {@code maxLength} (the encoders' truncation) is not used: set {@code truncateLeft}.
 */
public class SequenceScorer extends AttuneTextTransformer {

    /** The log-likelihood result. */
    public static final StructType LOGLIK_TYPE = DataTypes.createStructType(new StructField[] {
        DataTypes.createStructField("logprob", DataTypes.DoubleType, false),
        DataTypes.createStructField("mean_logprob", DataTypes.DoubleType, false),
        DataTypes.createStructField("tokens", DataTypes.IntegerType, false),
        DataTypes.createStructField("token_logprobs", DataTypes.createArrayType(DataTypes.FloatType, false), false)
    });

    /** The label-choice result. */
    public static final StructType CHOICE_TYPE = DataTypes.createStructType(new StructField[] {
        DataTypes.createStructField("label", DataTypes.StringType, false),
        DataTypes.createStructField("index", DataTypes.IntegerType, false),
        DataTypes.createStructField("scores", DataTypes.createArrayType(DataTypes.DoubleType, false), false)
    });

    public final Param<String> promptCol;
    public final Param<String> choicesCol;
    public final BooleanParam lengthNormalize;
    public final BooleanParam truncateLeft;
    public final IntParam maxTokens;

    public SequenceScorer() {
        this(Identifiable.randomUID("attuneSequenceScorer"));
    }

    public SequenceScorer(String uid) {
        super(uid, "loglik");
        promptCol = new Param<>(this, "promptCol", "string column of prompts the text completes; empty = none");
        choicesCol = new Param<>(
                this,
                "choicesCol",
                "array<string> column of candidate labels for the prompt in the "
                        + "input column; empty = log-likelihood mode");
        lengthNormalize = new BooleanParam(
                this, "lengthNormalize", "label choice compares mean log-probabilities per " + "token instead of sums");
        truncateLeft = new BooleanParam(
                this, "truncateLeft", "rows longer than the context keep their last tokens " + "instead of failing");
        maxTokens = new IntParam(
                this, "maxTokens", "tokens per batch; 0 = spark.attune.batch.maxTokens", ParamValidators.gtEq(0));
        setDefault(promptCol, "");
        setDefault(choicesCol, "");
        setDefault(lengthNormalize, false);
        setDefault(truncateLeft, false);
        setDefault(maxTokens, 0);
    }

    /** Label choice when {@code choicesCol} is set, else log-likelihood. */
    @Override
    TaskKind task() {
        return $(choicesCol).isEmpty() ? TaskKind.LOGLIK : TaskKind.CHOOSE;
    }

    @Override
    public String getOutputCol() {
        return isSet(outputCol) ? $(outputCol) : task() == TaskKind.CHOOSE ? "choice" : "loglik";
    }

    @Override
    StructField[] resultFields() {
        return new StructField[] {
            DataTypes.createStructField(getOutputCol(), task() == TaskKind.CHOOSE ? CHOICE_TYPE : LOGLIK_TYPE, true)
        };
    }

    @Override
    public StructType transformSchema(StructType schema) {
        String name = getClass().getSimpleName();
        if ((Integer) $(maxLength) > 0) {
            throw new IllegalArgumentException(name + ": maxLength does not apply to decoders; rows longer than the "
                    + "context fail, or set truncateLeft to keep their last tokens");
        }
        String prompt = $(promptCol);
        String choices = $(choicesCol);
        if (!prompt.isEmpty() && !choices.isEmpty()) {
            throw new IllegalArgumentException(name + ": promptCol and choicesCol exclude each other; with choicesCol "
                    + "the input column '" + getInputCol() + "' is the prompt");
        }
        if (!prompt.isEmpty()) {
            require(schema, prompt, DataTypes.StringType, "prompt");
        }
        if (!choices.isEmpty()) {
            DataType t = require(schema, choices, null, "choices");
            if (!(t instanceof ArrayType a) || !a.elementType().equals(DataTypes.StringType)) {
                throw new IllegalArgumentException(name + ": choices column '" + choices
                        + "' must be array<string>, it " + "is " + t.simpleString());
            }
        }
        return super.transformSchema(schema);
    }

    private DataType require(StructType schema, String col, DataType type, String what) {
        if (!Arrays.asList(schema.fieldNames()).contains(col)) {
            throw new IllegalArgumentException(getClass().getSimpleName() + ": " + what + " column '" + col
                    + "' does not exist; columns are " + Arrays.toString(schema.fieldNames()));
        }
        DataType t = schema.apply(col).dataType();
        if (type != null && !t.equals(type)) {
            throw new IllegalArgumentException(getClass().getSimpleName() + ": " + what + " column '" + col
                    + "' must be " + type.simpleString() + ", it is " + t.simpleString());
        }
        return t;
    }

    @Override
    public Dataset<Row> transform(Dataset<?> dataset) {
        StructType out = transformSchema(dataset.schema());
        StructType in = dataset.schema();
        String id = $(idCol);
        boolean nullOnError = nullOnError();
        SequencePartition.Settings s = new SequencePartition.Settings(
                getModel(),
                task(),
                (Integer) $(batchSize),
                (Integer) $(maxTokens),
                nullOnError ? OnError.NULL : OnError.FAIL,
                in.fieldIndex(getInputCol()),
                $(promptCol).isEmpty() ? -1 : in.fieldIndex($(promptCol)),
                $(choicesCol).isEmpty() ? -1 : in.fieldIndex($(choicesCol)),
                id.isEmpty() ? -1 : in.fieldIndex(id),
                (Boolean) $(lengthNormalize),
                (Boolean) $(truncateLeft),
                !$(pathCol).isEmpty(),
                !$(deviceCol).isEmpty(),
                nullOnError);
        return dataset.toDF().mapPartitions(new SequencePartition(s), Encoders.row(out));
    }

    public Param<String> promptCol() {
        return promptCol;
    }

    public Param<String> choicesCol() {
        return choicesCol;
    }

    public BooleanParam lengthNormalize() {
        return lengthNormalize;
    }

    public BooleanParam truncateLeft() {
        return truncateLeft;
    }

    public IntParam maxTokens() {
        return maxTokens;
    }

    public SequenceScorer setModel(String v) {
        set(model, v);
        return this;
    }

    public SequenceScorer setInputCol(String v) {
        set(inputCol, v);
        return this;
    }

    public SequenceScorer setPromptCol(String v) {
        set(promptCol, v);
        return this;
    }

    public SequenceScorer setChoicesCol(String v) {
        set(choicesCol, v);
        return this;
    }

    public SequenceScorer setLengthNormalize(boolean v) {
        set(lengthNormalize, v);
        return this;
    }

    public SequenceScorer setTruncateLeft(boolean v) {
        set(truncateLeft, v);
        return this;
    }

    public SequenceScorer setOutputCol(String v) {
        set(outputCol, v);
        return this;
    }

    public SequenceScorer setBatchSize(int v) {
        set(batchSize, v);
        return this;
    }

    public SequenceScorer setMaxTokens(int v) {
        set(maxTokens, v);
        return this;
    }

    public SequenceScorer setIdCol(String v) {
        set(idCol, v);
        return this;
    }

    public SequenceScorer setPathCol(String v) {
        set(pathCol, v);
        return this;
    }

    public SequenceScorer setDeviceCol(String v) {
        set(deviceCol, v);
        return this;
    }

    public SequenceScorer setErrorCol(String v) {
        set(errorCol, v);
        return this;
    }

    public SequenceScorer setOnError(String v) {
        set(onError, v);
        return this;
    }

    public String getPromptCol() {
        return $(promptCol);
    }

    public String getChoicesCol() {
        return $(choicesCol);
    }
}

package dev.attune.spark.ml;

import dev.attune.runtime.OnError;
import dev.attune.spark.conf.SparkSettings;
import dev.attune.task.TaskKind;
import java.util.Arrays;
import org.apache.spark.ml.Transformer;
import org.apache.spark.ml.param.IntParam;
import org.apache.spark.ml.param.Param;
import org.apache.spark.ml.param.ParamMap;
import org.apache.spark.ml.param.ParamValidators;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Encoders;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;

/**
 * The parameters and the transform shared by {@link TextEmbedder} and {@link TextClassifier}:
 * read a string column, score it with a model on each task's device in length-grouped batches,
 * append the result columns.
 *
 * <p>The model is the {@code model} parameter, else the session's {@code spark.attune.model} (the
 * model the executors preload), as for the SQL functions.
 *
 * <p>Optional columns: {@code pathCol} and {@code deviceCol} (the attention path and device that
 * produced each row), {@code errorCol} (added when {@code onError} is {@code null}: the reason a
 * row got a null result). {@code idCol} names rows in error messages.
 */
public abstract class AttuneTextTransformer extends Transformer {

    private final String uid;

    public final Param<String> model;
    public final Param<String> inputCol;
    public final Param<String> outputCol;
    public final IntParam batchSize;
    public final IntParam maxLength;
    public final Param<String> idCol;
    public final Param<String> pathCol;
    public final Param<String> deviceCol;
    public final Param<String> errorCol;
    public final Param<String> onError;

    protected AttuneTextTransformer(String uid, String defaultOutput) {
        this.uid = uid;
        model = new Param<>(this, "model", "model directory, Hadoop URI or builtin:NAME; empty = spark.attune.model");
        inputCol = new Param<>(this, "inputCol", "string column to score");
        outputCol = new Param<>(this, "outputCol", "result column");
        batchSize = new IntParam(
                this, "batchSize", "rows per batch; 0 sizes batches from the device's memory", ParamValidators.gtEq(0));
        maxLength = new IntParam(
                this,
                "maxLength",
                "truncate inputs to this many tokens; 0 = the model's maximum",
                ParamValidators.gtEq(0));
        idCol = new Param<>(this, "idCol", "column naming rows in error messages; empty = row position");
        pathCol = new Param<>(this, "pathCol", "column for the attention path that produced the row; empty = none");
        deviceCol = new Param<>(this, "deviceCol", "column for the device that produced the row; empty = none");
        errorCol = new Param<>(this, "errorCol", "column for the error of a failed row (with onError=null)");
        onError = new Param<>(
                this,
                "onError",
                "fail (the task fails naming the row) or null (null result + error "
                        + "column); empty = spark.attune.onError",
                v -> v.isEmpty() || v.equals("fail") || v.equals("null"));
        setDefault(model, "");
        setDefault(inputCol, "text");
        setDefault(outputCol, defaultOutput);
        setDefault(batchSize, 0);
        setDefault(maxLength, 0);
        setDefault(idCol, "");
        setDefault(pathCol, "");
        setDefault(deviceCol, "");
        setDefault(errorCol, "attune_error");
        setDefault(onError, "");
    }

    @Override
    public String uid() {
        return uid;
    }

    /** What a row becomes. */
    abstract TaskKind task();

    /** The result columns this transformer appends after the input's, before the optional ones. */
    abstract StructField[] resultFields();

    boolean withProbabilities() {
        return false;
    }

    public Param<String> model() {
        return model;
    }

    public Param<String> inputCol() {
        return inputCol;
    }

    public Param<String> outputCol() {
        return outputCol;
    }

    public IntParam batchSize() {
        return batchSize;
    }

    public IntParam maxLength() {
        return maxLength;
    }

    public Param<String> idCol() {
        return idCol;
    }

    public Param<String> pathCol() {
        return pathCol;
    }

    public Param<String> deviceCol() {
        return deviceCol;
    }

    public Param<String> errorCol() {
        return errorCol;
    }

    public Param<String> onError() {
        return onError;
    }

    /** The model this transformer scores with: its {@code model} parameter, else the session's spark.attune.model. */
    public String getModel() {
        String m = $(model);
        return m.isEmpty() ? SparkSettings.ofActiveSession().model() : m;
    }

    public String getInputCol() {
        return $(inputCol);
    }

    public String getOutputCol() {
        return $(outputCol);
    }

    public int getBatchSize() {
        return (Integer) $(batchSize);
    }

    /** Whether rows that fail get a null result and an error column instead of failing the task. */
    boolean nullOnError() {
        String v = $(onError);
        if (v.isEmpty()) {
            return SparkSettings.ofActiveSession().onError() == OnError.NULL;
        }
        return v.equals("null");
    }

    @Override
    public StructType transformSchema(StructType schema) {
        String in = $(inputCol);
        if (!Arrays.asList(schema.fieldNames()).contains(in)) {
            throw new IllegalArgumentException(getClass().getSimpleName() + ": input column '" + in
                    + "' does not exist; " + "columns are " + Arrays.toString(schema.fieldNames()));
        }
        if (!schema.apply(in).dataType().equals(DataTypes.StringType)) {
            throw new IllegalArgumentException(
                    getClass().getSimpleName() + ": input column '" + in + "' must be a string, " + "it is "
                            + schema.apply(in).dataType().simpleString());
        }
        return withResults(schema);
    }

    /** {@code schema} with the result, path, device and error columns; the id column checked. */
    StructType withResults(StructType schema) {
        String id = $(idCol);
        if (!id.isEmpty() && !Arrays.asList(schema.fieldNames()).contains(id)) {
            throw new IllegalArgumentException(getClass().getSimpleName() + ": id column '" + id + "' does not exist");
        }
        StructType out = schema;
        for (StructField f : resultFields()) {
            out = add(out, f);
        }
        if (!$(pathCol).isEmpty()) {
            out = add(out, DataTypes.createStructField($(pathCol), DataTypes.StringType, true));
        }
        if (!$(deviceCol).isEmpty()) {
            out = add(out, DataTypes.createStructField($(deviceCol), DataTypes.StringType, true));
        }
        if (nullOnError()) {
            out = add(out, DataTypes.createStructField($(errorCol), DataTypes.StringType, true));
        }
        return out;
    }

    private StructType add(StructType s, StructField f) {
        if (Arrays.asList(s.fieldNames()).contains(f.name())) {
            throw new IllegalArgumentException(
                    getClass().getSimpleName() + ": output column '" + f.name() + "' already exists");
        }
        return s.add(f);
    }

    @Override
    public Dataset<Row> transform(Dataset<?> dataset) {
        StructType out = transformSchema(dataset.schema());
        StructType in = dataset.schema();
        String id = $(idCol);
        ScoreSettings settings = new ScoreSettings(
                getModel(),
                task(),
                (Integer) $(batchSize),
                (Integer) $(maxLength),
                // Decided here, with the schema: the session's spark.attune.onError as the driver sees it now,
                // so the error column and what the tasks do always agree.
                nullOnError() ? OnError.NULL : OnError.FAIL,
                in.fieldIndex($(inputCol)),
                id.isEmpty() ? -1 : in.fieldIndex(id),
                withProbabilities(),
                !$(pathCol).isEmpty(),
                !$(deviceCol).isEmpty(),
                nullOnError());
        return dataset.toDF().mapPartitions(new ScorePartition(settings), Encoders.row(out));
    }

    @Override
    public Transformer copy(ParamMap extra) {
        return defaultCopy(extra);
    }
}

package dev.attune.spark.ml;

import dev.attune.task.TaskKind;
import org.apache.spark.ml.param.Param;
import org.apache.spark.ml.util.Identifiable;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructField;

/**
 * Spark ML transformer that classifies a text column with a BERT-family sequence-classification
 * checkpoint ({@code BertForSequenceClassification}: pooler + classifier, labels from
 * {@code id2label}): appends the label ({@code outputCol}), its probability ({@code scoreCol}) and,
 * when {@code probabilitiesCol} is set, every class's probability in label-id order.
 */
public class TextClassifier extends AttuneTextTransformer {

    public final Param<String> scoreCol;
    public final Param<String> probabilitiesCol;

    public TextClassifier() {
        this(Identifiable.randomUID("attuneTextClassifier"));
    }

    public TextClassifier(String uid) {
        super(uid, "label");
        scoreCol = new Param<>(this, "scoreCol", "column for the predicted label's probability");
        probabilitiesCol = new Param<>(this, "probabilitiesCol", "column for all class probabilities; empty = none");
        setDefault(scoreCol, "score");
        setDefault(probabilitiesCol, "");
    }

    public Param<String> scoreCol() {
        return scoreCol;
    }

    public Param<String> probabilitiesCol() {
        return probabilitiesCol;
    }

    @Override
    TaskKind task() {
        return TaskKind.CLASSIFY;
    }

    @Override
    boolean withProbabilities() {
        return !$(probabilitiesCol).isEmpty();
    }

    @Override
    StructField[] resultFields() {
        StructField label = DataTypes.createStructField($(outputCol), DataTypes.StringType, true);
        StructField score = DataTypes.createStructField($(scoreCol), DataTypes.DoubleType, true);
        if (!withProbabilities()) {
            return new StructField[] {label, score};
        }
        return new StructField[] {
            label,
            score,
            DataTypes.createStructField(
                    $(probabilitiesCol), DataTypes.createArrayType(DataTypes.FloatType, false), true)
        };
    }

    public TextClassifier setModel(String v) {
        set(model, v);
        return this;
    }

    public TextClassifier setInputCol(String v) {
        set(inputCol, v);
        return this;
    }

    public TextClassifier setOutputCol(String v) {
        set(outputCol, v);
        return this;
    }

    public TextClassifier setScoreCol(String v) {
        set(scoreCol, v);
        return this;
    }

    public TextClassifier setProbabilitiesCol(String v) {
        set(probabilitiesCol, v);
        return this;
    }

    public TextClassifier setBatchSize(int v) {
        set(batchSize, v);
        return this;
    }

    public TextClassifier setMaxLength(int v) {
        set(maxLength, v);
        return this;
    }

    public TextClassifier setIdCol(String v) {
        set(idCol, v);
        return this;
    }

    public TextClassifier setPathCol(String v) {
        set(pathCol, v);
        return this;
    }

    public TextClassifier setDeviceCol(String v) {
        set(deviceCol, v);
        return this;
    }

    public TextClassifier setErrorCol(String v) {
        set(errorCol, v);
        return this;
    }

    public TextClassifier setOnError(String v) {
        set(onError, v);
        return this;
    }
}

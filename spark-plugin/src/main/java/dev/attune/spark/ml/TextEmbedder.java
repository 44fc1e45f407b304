package dev.attune.spark.ml;

import dev.attune.task.TaskKind;
import org.apache.spark.ml.util.Identifiable;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructField;

/**
 * Spark ML transformer that appends a sentence embedding ({@code array<float>}) of a text
 * column. A null text gives a null embedding.
 *
 * <pre>{@code
 * Dataset<Row> out = new TextEmbedder()
 *     .setModel("builtin:all-MiniLM-L6-v2").setInputCol("text").setOutputCol("embedding")
 *     .setPathCol("path").setDeviceCol("device")
 *     .transform(df);
 * }</pre>
 */
public class TextEmbedder extends AttuneTextTransformer {

    public TextEmbedder() {
        this(Identifiable.randomUID("attuneTextEmbedder"));
    }

    public TextEmbedder(String uid) {
        super(uid, "embedding");
    }

    @Override
    TaskKind task() {
        return TaskKind.EMBED;
    }

    @Override
    StructField[] resultFields() {
        return new StructField[] {
            DataTypes.createStructField($(outputCol), DataTypes.createArrayType(DataTypes.FloatType, false), true)
        };
    }

    public TextEmbedder setModel(String v) {
        set(model, v);
        return this;
    }

    public TextEmbedder setInputCol(String v) {
        set(inputCol, v);
        return this;
    }

    public TextEmbedder setOutputCol(String v) {
        set(outputCol, v);
        return this;
    }

    public TextEmbedder setBatchSize(int v) {
        set(batchSize, v);
        return this;
    }

    public TextEmbedder setMaxLength(int v) {
        set(maxLength, v);
        return this;
    }

    public TextEmbedder setIdCol(String v) {
        set(idCol, v);
        return this;
    }

    public TextEmbedder setPathCol(String v) {
        set(pathCol, v);
        return this;
    }

    public TextEmbedder setDeviceCol(String v) {
        set(deviceCol, v);
        return this;
    }

    public TextEmbedder setErrorCol(String v) {
        set(errorCol, v);
        return this;
    }

    public TextEmbedder setOnError(String v) {
        set(onError, v);
        return this;
    }
}

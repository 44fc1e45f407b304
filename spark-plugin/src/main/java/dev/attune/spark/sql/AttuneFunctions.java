package dev.attune.spark.sql;

import org.apache.spark.sql.catalyst.FunctionIdentifier;
import org.apache.spark.sql.catalyst.encoders.ExpressionEncoder;
import org.apache.spark.sql.catalyst.expressions.Expression;
import org.apache.spark.sql.catalyst.expressions.ExpressionInfo;
import org.apache.spark.sql.catalyst.expressions.ScalaUDF;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import scala.Function1;
import scala.Option;
import scala.Tuple3;
import scala.collection.immutable.Seq;
import scala.jdk.javaapi.CollectionConverters;

import java.util.ArrayList;
import java.util.List;

/**
 * The SQL functions: {@code attune_embed(text[, model])} returns {@code array<float>};
 * {@code attune_classify(text[, model])} returns {@code struct<label: string, score: double>}.
 * Each becomes a {@link ScalaUDF} over its arguments, so Spark converts strings and results as it
 * does for any UDF; a wrong number of arguments is an analysis error naming the function.
 */
public final class AttuneFunctions {

    public static final String EMBED = "attune_embed";
    public static final String CLASSIFY = "attune_classify";

    static final DataType EMBED_TYPE = DataTypes.createArrayType(DataTypes.FloatType, false);
    static final DataType CLASSIFY_TYPE = DataTypes.createStructType(new org.apache.spark.sql.types.StructField[] {
            DataTypes.createStructField("label", DataTypes.StringType, true),
            DataTypes.createStructField("score", DataTypes.DoubleType, true)});

    private AttuneFunctions() {
    }

    /** (name, description, builder) for every function, as {@code SparkSessionExtensions.injectFunction} takes them. */
    public static List<Tuple3<FunctionIdentifier, ExpressionInfo, Function1<Seq<Expression>, Expression>>> definitions() {
        List<Tuple3<FunctionIdentifier, ExpressionInfo, Function1<Seq<Expression>, Expression>>> defs = new ArrayList<>();
        defs.add(new Tuple3<>(new FunctionIdentifier(EMBED, Option.empty(), Option.empty()),
                info(EMBED, "_FUNC_(text[, model]) - sentence embedding of text as array<float>, with the model "
                        + "(default spark.attune.model)"),
                args -> build(EMBED, args, EMBED_TYPE, Kind.EMBED)));
        defs.add(new Tuple3<>(new FunctionIdentifier(CLASSIFY, Option.empty(), Option.empty()),
                info(CLASSIFY, "_FUNC_(text[, model]) - struct<label, score> from a sequence-classification model "
                        + "(default spark.attune.model)"),
                args -> build(CLASSIFY, args, CLASSIFY_TYPE, Kind.CLASSIFY)));
        return defs;
    }

    private static ExpressionInfo info(String name, String usage) {
        return new ExpressionInfo(AttuneFunctions.class.getName(), null, name, usage, "", "", "", "", "", "", "");
    }

    /** Which function a UDF body computes. */
    enum Kind {
        EMBED, CLASSIFY;

        Object apply(String text, String model) {
            return this == EMBED ? SqlScoring.embed(text, model) : SqlScoring.classify(text, model);
        }
    }

    /** The one-argument body; serializable because Spark ships it to the executors with the plan. */
    static final class TextOnly extends scala.runtime.AbstractFunction1<String, Object> implements java.io.Serializable {
        private final Kind kind;

        TextOnly(Kind kind) {
            this.kind = kind;
        }

        @Override
        public Object apply(String text) {
            return kind.apply(text, null);
        }
    }

    /** The two-argument body (text, model). */
    static final class TextAndModel extends scala.runtime.AbstractFunction2<String, String, Object>
            implements java.io.Serializable {
        private final Kind kind;

        TextAndModel(Kind kind) {
            this.kind = kind;
        }

        @Override
        public Object apply(String text, String model) {
            return kind.apply(text, model);
        }
    }

    private static Expression build(String name, Seq<Expression> args, DataType type, Kind kind) {
        int n = args.size();
        if (n < 1 || n > 2) {
            throw new IllegalArgumentException(name + " takes (text) or (text, model), got " + n + " arguments");
        }
        List<Option<ExpressionEncoder<?>>> encoders = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            encoders.add(Option.empty());
        }
        Seq<Option<ExpressionEncoder<?>>> enc = CollectionConverters.asScala(encoders).toSeq();
        Object fn = n == 1 ? new TextOnly(kind) : new TextAndModel(kind);
        return new ScalaUDF(fn, type, args, enc, Option.empty(), Option.apply(name), true, true);
    }
}

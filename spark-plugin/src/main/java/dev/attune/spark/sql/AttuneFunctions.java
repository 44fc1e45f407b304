package dev.attune.spark.sql;

import org.apache.spark.sql.AnalysisException;
import org.apache.spark.sql.catalyst.FunctionIdentifier;
import org.apache.spark.sql.catalyst.encoders.ExpressionEncoder;
import org.apache.spark.sql.catalyst.expressions.Expression;
import org.apache.spark.sql.catalyst.expressions.ExpressionInfo;
import org.apache.spark.sql.catalyst.expressions.ScalaUDF;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import scala.Function1;
import scala.Function2;
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

    /** Which of the functions a call is. */
    enum Kind {
        EMBED, CLASSIFY
    }

    /** (name, description, builder) for every function, as {@code SparkSessionExtensions.injectFunction} takes them. */
    public static List<Tuple3<FunctionIdentifier, ExpressionInfo, Function1<Seq<Expression>, Expression>>> definitions() {
        List<Tuple3<FunctionIdentifier, ExpressionInfo, Function1<Seq<Expression>, Expression>>> defs = new ArrayList<>();
        defs.add(new Tuple3<>(new FunctionIdentifier(EMBED, Option.empty(), Option.empty()),
                info(EMBED, "_FUNC_(text[, model]) - sentence embedding of text as array<float>, with the model "
                        + "(default spark.attune.model)"),
                args -> build(EMBED, args, EMBED_TYPE, SqlScoring::embed)));
        defs.add(new Tuple3<>(new FunctionIdentifier(CLASSIFY, Option.empty(), Option.empty()),
                info(CLASSIFY, "_FUNC_(text[, model]) - struct<label, score> from a sequence-classification model "
                        + "(default spark.attune.model)"),
                args -> build(CLASSIFY, args, CLASSIFY_TYPE, SqlScoring::classify)));
        return defs;
    }

    /** Throws a checked exception (AnalysisException) from a Scala function body, as Scala code does. */
    @SuppressWarnings("unchecked")
    private static <E extends Throwable> E sneaky(Throwable e) throws E {
        throw (E) e;
    }

    private static ExpressionInfo info(String name, String usage) {
        return new ExpressionInfo(AttuneFunctions.class.getName(), null, name, usage, "", "", "", "", "", "", "");
    }

    /**
     * A function body, (text, model or null) to result. Serializable: the UDF that calls it is
     * part of the task closure shipped to the executors.
     */
    @FunctionalInterface
    interface Body extends java.io.Serializable {
        Object apply(String text, String model);
    }

    private static Expression build(String name, Seq<Expression> args, DataType type, Body body) {
        int n = args.size();
        if (n < 1 || n > 2) {
            // Spark's own error for a wrong argument count, so it surfaces as an AnalysisException.
            java.util.Map<String, String> params = new java.util.LinkedHashMap<>();
            params.put("functionName", "`" + name + "`");
            params.put("expectedNum", "[1, 2]");
            params.put("actualNum", String.valueOf(n));
            params.put("docroot", "https://spark.apache.org/docs/latest");
            throw AttuneFunctions.<RuntimeException>sneaky(new AnalysisException("WRONG_NUM_ARGS.WITHOUT_SUGGESTION",
                    scala.collection.immutable.Map$.MODULE$.from(CollectionConverters.asScala(params))));
        }
        List<Option<ExpressionEncoder<?>>> encoders = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            encoders.add(Option.empty());
        }
        Seq<Option<ExpressionEncoder<?>>> enc = CollectionConverters.asScala(encoders).toSeq();
        Object fn = n == 1
                ? (Function1<String, Object> & java.io.Serializable) text -> body.apply(text, null)
                : (Function2<String, String, Object> & java.io.Serializable) body::apply;
        return new ScalaUDF(fn, type, args, enc, Option.empty(), Option.apply(name), true, true);
    }
}

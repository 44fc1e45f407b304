package dev.attune.spark.sql;

import dev.attune.spark.ml.SequenceScorer;
import dev.attune.task.TaskKind;
import java.util.ArrayList;
import java.util.List;
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

/**
 * The SQL functions:
 * <ul>
 *   <li>{@code attune_embed(text[, model])} returns {@code array<float>};</li>
 *   <li>{@code attune_classify(text[, model])} returns {@code struct<label: string, score: double>};</li>
 *   <li>{@code attune_loglik(text[, prompt[, model]])} returns, with a decoder,
 *   {@code struct<logprob: double, mean_logprob: double, tokens: int, token_logprobs: array<float>>}
 *   ({@link SequenceScorer#LOGLIK_TYPE}): the text's log-likelihood, or the completion's given
 *   the prompt (a NULL prompt scores the text alone);</li>
 *   <li>{@code attune_choose(prompt, labels[, model])} returns, with a decoder,
 *   {@code struct<label: string, index: int, scores: array<double>>} ({@link SequenceScorer#CHOICE_TYPE}):
 *   the candidate of {@code labels} (an {@code array<string>}) most likely after the prompt, by
 *   the sum of its tokens' log-probabilities;</li>
 *   <li>{@code attune_generate(prompt[, options])} returns, with a decoder,
 *   {@code struct<text: string, tokens: array<int>, prompt_tokens: int, completion_tokens: int,
 *   finish_reason: string, token_logprobs: array<float>>} ({@link dev.attune.spark.ml.TextGenerator#GENERATION_TYPE}): the text
 *   generated after the prompt, with the sampling of the {@code map<string, string>} options
 *   ({@link GenerateOptions}); each row's random stream is seeded from the seed and its prompt.</li>
 * </ul>
 * The model is the literal argument, else {@code spark.attune.model}. Each call becomes a
 * {@link ScalaUDF} over its arguments, so Spark converts strings and results as it does for any
 * UDF; a wrong number of arguments is an analysis error naming the function. In a projection
 * with a literal model (or none) the calls are scored in batches per partition ({@link BatchSqlScoring}).
 */
public final class AttuneFunctions {

    public static final String EMBED = "attune_embed";
    public static final String CLASSIFY = "attune_classify";
    public static final String LOGLIK = "attune_loglik";
    public static final String CHOOSE = "attune_choose";
    public static final String GENERATE = "attune_generate";

    static final DataType EMBED_TYPE = DataTypes.createArrayType(DataTypes.FloatType, false);
    static final DataType CLASSIFY_TYPE = DataTypes.createStructType(new org.apache.spark.sql.types.StructField[] {
        DataTypes.createStructField("label", DataTypes.StringType, true),
        DataTypes.createStructField("score", DataTypes.DoubleType, true)
    });
    static final DataType LOGLIK_TYPE = SequenceScorer.LOGLIK_TYPE;
    static final DataType CHOICE_TYPE = SequenceScorer.CHOICE_TYPE;
    static final DataType GENERATION_TYPE = dev.attune.spark.ml.TextGenerator.GENERATION_TYPE;

    private AttuneFunctions() {}

    /** The task of a function name, or null when the name is not one of ours. */
    static TaskKind kindOf(String name) {
        return switch (name) {
            case EMBED -> TaskKind.EMBED;
            case CLASSIFY -> TaskKind.CLASSIFY;
            case LOGLIK -> TaskKind.LOGLIK;
            case CHOOSE -> TaskKind.CHOOSE;
            case GENERATE -> TaskKind.GENERATE;
            default -> null;
        };
    }

    /** The function name of a task. */
    static String nameOf(TaskKind kind) {
        return switch (kind) {
            case EMBED -> EMBED;
            case CLASSIFY -> CLASSIFY;
            case LOGLIK -> LOGLIK;
            case CHOOSE -> CHOOSE;
            case GENERATE -> GENERATE;
        };
    }

    /**
     * How many leading arguments of a call are per-row data; the one after them, if any, is the
     * model (for {@code attune_generate}, the options map).
     */
    static int dataArgs(TaskKind kind, int n) {
        return switch (kind) {
            case EMBED, CLASSIFY -> 1;
            case LOGLIK -> Math.min(n, 2);
            case CHOOSE -> 2;
            case GENERATE -> 1;
        };
    }

    /** (name, description, builder) for every function, as {@code SparkSessionExtensions.injectFunction} takes them. */
    public static List<Tuple3<FunctionIdentifier, ExpressionInfo, Function1<Seq<Expression>, Expression>>>
            definitions() {
        List<Tuple3<FunctionIdentifier, ExpressionInfo, Function1<Seq<Expression>, Expression>>> defs =
                new ArrayList<>();
        defs.add(new Tuple3<>(
                new FunctionIdentifier(EMBED, Option.empty(), Option.empty()),
                info(
                        EMBED,
                        "_FUNC_(text[, model]) - sentence embedding of text as array<float>, with the model "
                                + "(default spark.attune.model)"),
                args -> build(EMBED, args, EMBED_TYPE, SqlScoring::embed)));
        defs.add(new Tuple3<>(
                new FunctionIdentifier(CLASSIFY, Option.empty(), Option.empty()),
                info(
                        CLASSIFY,
                        "_FUNC_(text[, model]) - struct<label, score> from a sequence-classification model "
                                + "(default spark.attune.model)"),
                args -> build(CLASSIFY, args, CLASSIFY_TYPE, SqlScoring::classify)));
        defs.add(new Tuple3<>(
                new FunctionIdentifier(LOGLIK, Option.empty(), Option.empty()),
                info(
                        LOGLIK,
                        "_FUNC_(text[, prompt[, model]]) - struct<logprob, mean_logprob, tokens, token_logprobs>: "
                                + "log-likelihood of text (of the completion, given prompt) under a decoder (default spark.attune.model)"),
                args -> buildLoglik(args)));
        defs.add(new Tuple3<>(
                new FunctionIdentifier(CHOOSE, Option.empty(), Option.empty()),
                info(
                        CHOOSE,
                        "_FUNC_(prompt, labels[, model]) - struct<label, index, scores>: the label of array<string> "
                                + "labels a decoder finds most likely after prompt (default spark.attune.model)"),
                args -> buildChoose(args)));
        defs.add(new Tuple3<>(
                new FunctionIdentifier(GENERATE, Option.empty(), Option.empty()),
                info(
                        GENERATE,
                        "_FUNC_(prompt[, options]) - struct<text, tokens, prompt_tokens, completion_tokens, "
                                + "finish_reason, token_logprobs>: text a decoder generates after prompt; options is a "
                                + "map<string, string> of model, max_new_tokens (64), temperature (0: greedy), top_k, "
                                + "top_p, min_p, repetition_penalty, presence_penalty, seed, stop, truncate_left"),
                args -> buildGenerate(args)));
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
        checkArgs(name, n, 1, 2);
        Object fn = n == 1
                ? (Function1<String, Object> & java.io.Serializable) text -> body.apply(text, null)
                : (Function2<String, String, Object> & java.io.Serializable) body::apply;
        return udf(name, fn, type, args);
    }

    private static Expression buildLoglik(Seq<Expression> args) {
        int n = args.size();
        checkArgs(LOGLIK, n, 1, 3);
        Object fn = switch (n) {
            case 1 -> (Function1<String, Object> & java.io.Serializable) text -> SqlScoring.loglik(text, null, null);
            case 2 ->
                (Function2<String, String, Object> & java.io.Serializable)
                        (text, prompt) -> SqlScoring.loglik(text, prompt, null);
            default -> (scala.Function3<String, String, String, Object> & java.io.Serializable) SqlScoring::loglik;
        };
        return udf(LOGLIK, fn, LOGLIK_TYPE, args);
    }

    private static Expression buildChoose(Seq<Expression> args) {
        int n = args.size();
        checkArgs(CHOOSE, n, 2, 3);
        Object fn = n == 2
                ? (Function2<String, scala.collection.Seq<String>, Object> & java.io.Serializable)
                        (prompt, labels) -> SqlScoring.choose(prompt, labels, null)
                : (scala.Function3<String, scala.collection.Seq<String>, String, Object> & java.io.Serializable)
                        SqlScoring::choose;
        return udf(CHOOSE, fn, CHOICE_TYPE, args);
    }

    private static Expression buildGenerate(Seq<Expression> args) {
        int n = args.size();
        checkArgs(GENERATE, n, 1, 2);
        if (n == 2) {
            Expression options = args.apply(1);
            if (!(options.dataType() instanceof org.apache.spark.sql.types.MapType m)
                    || !m.keyType().equals(DataTypes.StringType)
                    || !m.valueType().equals(DataTypes.StringType)) {
                throw new IllegalArgumentException(GENERATE + ": the options must be a map<string, string>, like "
                        + "map('max_new_tokens', '32', 'temperature', '0.7'); got "
                        + options.dataType().simpleString());
            }
            if (options.foldable()) {
                GenerateOptions.parse(options(options.eval(null), options.dataType())); // refused here, not per row
            }
        }
        Object fn = n == 1
                ? (Function1<String, Object> & java.io.Serializable)
                        prompt -> SqlScoring.generate(prompt, GenerateOptions.DEFAULT)
                : (Function2<String, scala.collection.Map<String, String>, Object> & java.io.Serializable)
                        (prompt, options) -> SqlScoring.generate(
                                prompt,
                                GenerateOptions.parse(
                                        options == null ? java.util.Map.of() : CollectionConverters.asJava(options)));
        return udf(GENERATE, fn, GENERATION_TYPE, args);
    }

    /** A map<string, string> value as Catalyst holds it (or null), as a Java map. */
    @SuppressWarnings("unchecked")
    static java.util.Map<String, String> options(Object catalystValue, DataType type) {
        if (catalystValue == null) {
            return java.util.Map.of();
        }
        Object scala = org.apache.spark.sql.catalyst.CatalystTypeConverters.convertToScala(catalystValue, type);
        return new java.util.LinkedHashMap<>(CollectionConverters.asJava((scala.collection.Map<String, String>) scala));
    }

    private static void checkArgs(String name, int n, int min, int max) {
        if (n < min || n > max) {
            // Spark's own error for a wrong argument count, so it surfaces as an AnalysisException.
            java.util.Map<String, String> params = new java.util.LinkedHashMap<>();
            params.put("functionName", "`" + name + "`");
            params.put("expectedNum", "[" + min + ", " + max + "]");
            params.put("actualNum", String.valueOf(n));
            params.put("docroot", "https://spark.apache.org/docs/latest");
            throw AttuneFunctions.<RuntimeException>sneaky(new AnalysisException(
                    "WRONG_NUM_ARGS.WITHOUT_SUGGESTION",
                    scala.collection.immutable.Map$.MODULE$.from(CollectionConverters.asScala(params))));
        }
    }

    private static Expression udf(String name, Object fn, DataType type, Seq<Expression> args) {
        List<Option<ExpressionEncoder<?>>> encoders = new ArrayList<>();
        for (int i = 0; i < args.size(); i++) {
            encoders.add(Option.empty());
        }
        Seq<Option<ExpressionEncoder<?>>> enc =
                CollectionConverters.asScala(encoders).toSeq();
        return new ScalaUDF(fn, type, args, enc, Option.empty(), Option.apply(name), true, true);
    }
}

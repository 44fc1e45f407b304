package dev.attune.spark.sql;

import dev.attune.task.TaskKind;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.spark.sql.catalyst.encoders.ExpressionEncoder;
import org.apache.spark.sql.catalyst.expressions.Alias;
import org.apache.spark.sql.catalyst.expressions.Attribute;
import org.apache.spark.sql.catalyst.expressions.AttributeReference;
import org.apache.spark.sql.catalyst.expressions.ExprId;
import org.apache.spark.sql.catalyst.expressions.Expression;
import org.apache.spark.sql.catalyst.expressions.NamedExpression;
import org.apache.spark.sql.catalyst.expressions.ScalaUDF;
import org.apache.spark.sql.catalyst.plans.logical.LogicalPlan;
import org.apache.spark.sql.catalyst.plans.logical.Project;
import org.apache.spark.sql.catalyst.rules.Rule;
import org.apache.spark.sql.types.StructType;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import scala.Option;
import scala.jdk.javaapi.CollectionConverters;

/**
 * Optimizer rule that makes the SQL functions score rows in batches: a projection that calls
 * {@code attune_embed}, {@code attune_classify}, {@code attune_loglik}, {@code attune_choose} or
 * {@code attune_generate} (with a literal model or options map, or none) becomes
 * <pre>
 *   Project(the same columns, the calls replaced by new columns)
 *     MapPartitions(BatchScoringFunction)          -- chunks of rows, length-grouped batches
 *       Project(child columns, the calls' per-row argument expressions)
 *         child
 * </pre>
 * so each partition is scored like the DataFrame transformers score it, not one row per call.
 * The columns the projection produced keep their expression ids, so nothing above it changes.
 * Calls elsewhere (a filter, an aggregate, a model that is not a literal) stay row-at-a-time UDFs,
 * which give the same results. If anything in the rewrite fails, the plan is left as it was.
 */
public final class BatchSqlScoring extends Rule<LogicalPlan> {

    private static final Logger LOG = LoggerFactory.getLogger(BatchSqlScoring.class);

    @Override
    public LogicalPlan apply(LogicalPlan plan) {
        try {
            return rewrite(plan);
        } catch (RuntimeException | LinkageError e) {
            LOG.warn("Attune: SQL calls left row-at-a-time, the batching rewrite failed: {}", e.toString());
            return plan;
        }
    }

    private LogicalPlan rewrite(LogicalPlan p) {
        List<LogicalPlan> kids = CollectionConverters.asJava(p.children());
        List<LogicalPlan> rewritten = new ArrayList<>(kids.size());
        boolean changed = false;
        for (LogicalPlan k : kids) {
            LogicalPlan r = rewrite(k);
            changed |= r != k;
            rewritten.add(r);
        }
        LogicalPlan q = changed
                ? p.withNewChildren(CollectionConverters.asScala(rewritten).toSeq())
                : p;
        return q instanceof Project proj ? rewriteProject(proj) : q;
    }

    /** Whether {@code e} is one of our calls that can be batched. */
    private static boolean batchable(Expression e) {
        if (!(e instanceof ScalaUDF u) || u.udfName().isEmpty()) {
            return false;
        }
        TaskKind kind = AttuneFunctions.kindOf(u.udfName().get());
        if (kind == null) {
            return false;
        }
        List<Expression> args = CollectionConverters.asJava(u.children());
        int data = AttuneFunctions.dataArgs(kind, args.size());
        return args.size() == data || (args.size() == data + 1 && args.get(data).foldable());
    }

    private LogicalPlan rewriteProject(Project proj) {
        List<ScalaUDF> calls = new ArrayList<>();
        for (NamedExpression ne : CollectionConverters.asJava(proj.projectList())) {
            collect((Expression) ne, calls);
        }
        if (calls.isEmpty()) {
            return proj;
        }
        LogicalPlan child = proj.child();
        List<Attribute> childOut = CollectionConverters.asJava(child.output());

        // 1. Evaluate each call's text expression next to the child's columns.
        List<NamedExpression> pre = new ArrayList<>(childOut);
        List<BatchScoringFunction.Call> specs = new ArrayList<>();
        for (int i = 0; i < calls.size(); i++) {
            ScalaUDF u = calls.get(i);
            List<Expression> args = CollectionConverters.asJava(u.children());
            TaskKind kind = AttuneFunctions.kindOf(u.udfName().get());
            int data = AttuneFunctions.dataArgs(kind, args.size());
            int[] argIndexes = new int[data];
            for (int a = 0; a < data; a++) {
                argIndexes[a] = pre.size();
                pre.add(alias(
                        args.get(a),
                        "__attune_arg_" + i + "_" + a,
                        org.apache.spark.sql.catalyst.expressions.NamedExpression$.MODULE$.newExprId()));
            }
            String model = null;
            GenerateOptions generate = null;
            if (args.size() > data && kind == TaskKind.GENERATE) {
                generate = GenerateOptions.parse(AttuneFunctions.options(
                        args.get(data).eval(null), args.get(data).dataType()));
                model = generate.model();
            } else if (args.size() > data) {
                Object v = args.get(data).eval(null);
                model = v == null ? null : v.toString();
            }
            specs.add(new BatchScoringFunction.Call(kind, model, argIndexes, generate));
        }
        Project texts = new Project(CollectionConverters.asScala(pre).toSeq(), child);

        // 2. Score the partitions in batches; one result column per call.
        StructType inSchema = texts.schema();
        StructType outSchema = inSchema;
        for (int i = 0; i < calls.size(); i++) {
            outSchema = outSchema.add("__attune_out_" + i, calls.get(i).dataType(), true);
        }
        // The analyzer has run already, so the nodes Dataset.mapPartitions would leave for it to
        // resolve are built resolved: the input encoder's deserializer is bound to the text projection.
        ExpressionEncoder<org.apache.spark.sql.Row> inEnc = ExpressionEncoder.apply(inSchema)
                .resolveAndBind(texts.output(), org.apache.spark.sql.catalyst.analysis.SimpleAnalyzer$.MODULE$);
        ExpressionEncoder<org.apache.spark.sql.Row> outEnc = ExpressionEncoder.apply(outSchema);
        var serde = org.apache.spark.sql.catalyst.plans.logical.CatalystSerde$.MODULE$;
        // Ordinals become the text projection's attributes again, so column pruning sees what is read.
        Expression deserializer = unbind(inEnc.deserializer(), CollectionConverters.asJava(texts.output()));
        LogicalPlan rows = new org.apache.spark.sql.catalyst.plans.logical.DeserializeToObject(
                deserializer, serde.generateObjAttr(inEnc), texts);
        @SuppressWarnings({"unchecked", "rawtypes"})
        scala.Function1<scala.collection.Iterator<Object>, scala.collection.Iterator<Object>> fn =
                (scala.Function1) new BatchScoringFunction(specs);
        LogicalPlan scored =
                new org.apache.spark.sql.catalyst.plans.logical.MapPartitions(fn, serde.generateObjAttr(outEnc), rows);
        LogicalPlan mapped =
                new org.apache.spark.sql.catalyst.plans.logical.SerializeFromObject(outEnc.namedExpressions(), scored);
        List<Attribute> mappedOut = CollectionConverters.asJava(mapped.output());

        // 3. The original projection over the new columns: old attributes map to the new ones by position.
        Map<ExprId, Attribute> byId = new HashMap<>();
        for (int j = 0; j < childOut.size(); j++) {
            byId.put(childOut.get(j).exprId(), mappedOut.get(j));
        }
        List<NamedExpression> list = new ArrayList<>();
        for (NamedExpression ne : CollectionConverters.asJava(proj.projectList())) {
            Expression replaced = replace((Expression) ne, calls, byId, mappedOut, pre.size());
            if (ne instanceof Alias a) {
                list.add(alias(((Alias) replaced).child(), a.name(), a.exprId()));
            } else {
                // A bare column keeps its expression id, so what reads this projection is unchanged.
                list.add(alias(replaced, ne.name(), ne.exprId()));
            }
        }
        Project result = new Project(CollectionConverters.asScala(list).toSeq(), mapped);
        return result;
    }

    private static void collect(Expression e, List<ScalaUDF> out) {
        if (batchable(e)) {
            for (ScalaUDF u : out) {
                if (u.semanticEquals(e)) {
                    return;
                }
            }
            out.add((ScalaUDF) e);
            return;
        }
        for (Expression c : CollectionConverters.asJava(e.children())) {
            collect(c, out);
        }
    }

    /** The calls replaced by their result columns, and the child's attributes by the new ones. */
    private static Expression replace(
            Expression e,
            List<ScalaUDF> calls,
            Map<ExprId, Attribute> byId,
            List<Attribute> mappedOut,
            int resultsStart) {
        return mapTree(e, x -> {
            if (batchable(x)) {
                for (int i = 0; i < calls.size(); i++) {
                    if (calls.get(i).semanticEquals(x)) {
                        return mappedOut.get(resultsStart + i);
                    }
                }
            }
            return x instanceof AttributeReference a && byId.containsKey(a.exprId()) ? byId.get(a.exprId()) : x;
        });
    }

    /** Bound ordinals replaced by the attributes they stand for. */
    private static Expression unbind(Expression e, List<Attribute> attrs) {
        return mapTree(
                e,
                x -> x instanceof org.apache.spark.sql.catalyst.expressions.BoundReference b
                        ? attrs.get(b.ordinal())
                        : x);
    }

    /**
     * Rewrites a tree top-down: where {@code f} replaces a node the replacement is kept as it is,
     * elsewhere the children are rewritten (a node is copied only when one of them changed).
     */
    private static Expression mapTree(Expression e, java.util.function.UnaryOperator<Expression> f) {
        Expression r = f.apply(e);
        if (r != e) {
            return r;
        }
        List<Expression> kids = CollectionConverters.asJava(e.children());
        List<Expression> nk = new ArrayList<>(kids.size());
        boolean changed = false;
        for (Expression k : kids) {
            Expression m = mapTree(k, f);
            changed |= m != k;
            nk.add(m);
        }
        return changed ? e.withNewChildren(CollectionConverters.asScala(nk).toSeq()) : e;
    }

    private static Alias alias(Expression child, String name, ExprId id) {
        return new Alias(
                child,
                name,
                id,
                CollectionConverters.asScala(List.<String>of()).toSeq(),
                Option.empty(),
                CollectionConverters.asScala(List.<String>of()).toSeq());
    }
}

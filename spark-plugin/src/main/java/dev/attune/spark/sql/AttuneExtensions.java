package dev.attune.spark.sql;

import org.apache.spark.sql.SparkSessionExtensions;
import scala.Function1;
import scala.runtime.BoxedUnit;

/**
 * Installs Attune's SQL functions in every session, and the optimizer rule that scores their
 * calls in batches per partition ({@link BatchSqlScoring}):
 * {@code --conf spark.sql.extensions=dev.attune.spark.sql.AttuneExtensions}.
 */
public final class AttuneExtensions implements Function1<SparkSessionExtensions, BoxedUnit> {

    @Override
    public BoxedUnit apply(SparkSessionExtensions extensions) {
        AttuneFunctions.definitions().forEach(extensions::injectFunction);
        extensions.injectOptimizerRule(new BatchRuleBuilder());
        return BoxedUnit.UNIT;
    }

    /** Builds the batching rule for a session. */
    static final class BatchRuleBuilder
            extends scala.runtime.AbstractFunction1<
                    org.apache.spark.sql.SparkSession,
                    org.apache.spark.sql.catalyst.rules.Rule<org.apache.spark.sql.catalyst.plans.logical.LogicalPlan>> {
        @Override
        public org.apache.spark.sql.catalyst.rules.Rule<org.apache.spark.sql.catalyst.plans.logical.LogicalPlan> apply(
                org.apache.spark.sql.SparkSession session) {
            return new BatchSqlScoring();
        }
    }
}

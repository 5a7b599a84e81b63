package io.paystream.sql;

import org.apache.spark.sql.catalyst.expressions.Expression;
import org.apache.spark.sql.catalyst.expressions.Literal;
import org.apache.spark.sql.catalyst.expressions.Literal$;
import org.apache.spark.sql.catalyst.plans.logical.Command;
import org.apache.spark.sql.catalyst.plans.logical.GlobalLimit;
import org.apache.spark.sql.catalyst.plans.logical.Limit$;
import org.apache.spark.sql.catalyst.plans.logical.LogicalPlan;
import org.apache.spark.sql.catalyst.plans.logical.Subquery;
import org.apache.spark.sql.catalyst.rules.Rule;

/**
 * An optimizer rule that cuts every query's result at a fixed number of rows.
 *
 * One analyst's {@code SELECT *} over a large table must not hold the endpoint's memory and
 * network: once the session is locked (see {@link ReadOnly}), the root of every query plan
 * gets a {@code LIMIT cap} unless it already has a limit no larger. The root only: the
 * optimizer hands subqueries to its rules wrapped in {@link Subquery}, and a limit inside
 * {@code IN (SELECT ...)} would change the answer, so those are left alone.
 */
public final class ResultCap extends Rule<LogicalPlan> {
  private static volatile int cap = 0;

  /** Cut results at {@code rows} rows from now on (0: no cap). */
  public static void set(int rows) {
    cap = rows;
  }

  @Override
  public LogicalPlan apply(LogicalPlan plan) {
    int rows = cap;
    if (rows <= 0 || !ReadOnly.isLocked()) {
      return plan;
    }
    if (plan instanceof Subquery || plan instanceof Command || within(plan, rows)) {
      return plan;
    }
    return (LogicalPlan) Limit$.MODULE$.apply(Literal$.MODULE$.apply(rows), plan);
  }

  /** True when the plan's root already limits it to at most {@code rows} rows. */
  private static boolean within(LogicalPlan plan, int rows) {
    if (plan instanceof GlobalLimit limit) {
      Expression e = limit.limitExpr();
      return e instanceof Literal lit && lit.value() instanceof Integer n && n <= rows;
    }
    return false;
  }
}

package io.paystream.sql;

import java.util.Set;
import org.apache.spark.sql.SparkSessionExtensions;
import org.apache.spark.sql.catalyst.expressions.Expression;
import org.apache.spark.sql.catalyst.plans.logical.Command;
import org.apache.spark.sql.catalyst.plans.logical.LogicalPlan;
import scala.Function1;
import scala.Option;
import scala.Product;
import scala.Some;
import scala.Tuple2;
import scala.jdk.javaapi.CollectionConverters;
import scala.runtime.BoxedUnit;

/**
 * A Spark session extension that makes SQL read-only once {@link #lock()} is called.
 *
 * The SQL endpoint registers its tables, then locks. From then on the analyzer refuses every
 * command except the ones BI tools use to look around (SHOW, DESCRIBE, USE, EXPLAIN and SET
 * without a value), and any call of a Java method through reflect() or java_method(). A
 * query plan (SELECT, WITH) passes. Writes to the Delta files, DDL, ADD JAR, caching and
 * changing the session's settings (which could re-enable SQL on arbitrary files) all fail.
 */
public final class ReadOnly implements Function1<SparkSessionExtensions, BoxedUnit> {
  private static volatile boolean locked = false;

  private static final Set<String> LOOKING_AROUND =
      Set.of(
          "SetCatalogAndNamespace",
          "SetNamespaceCommand",
          "ExplainCommand",
          "DescribeRelation",
          "DescribeColumn",
          "DescribeNamespace",
          "DescribeTableCommand",
          "DescribeColumnCommand",
          "DescribeFunction",
          "DescribeFunctionCommand",
          "ShowTables",
          "ShowTablesCommand",
          "ShowNamespaces",
          "ShowColumns",
          "ShowColumnsCommand",
          "ShowFunctions",
          "ShowFunctionsCommand",
          "ShowViews",
          "ShowTableProperties",
          "ShowTablePropertiesCommand",
          "ShowCreateTable",
          "ShowCreateTableCommand",
          "ShowPartitions",
          "ShowCatalogsCommand",
          "ShowCurrentNamespaceCommand");

  /** From now on, every session of this JVM is read-only. There is no unlock. */
  public static void lock() {
    locked = true;
  }

  /** True once {@link #lock()} was called. */
  public static boolean isLocked() {
    return locked;
  }

  @Override
  public BoxedUnit apply(SparkSessionExtensions extensions) {
    extensions.injectCheckRule(
        session ->
            plan -> {
              if (locked) {
                check(plan);
              }
              return BoxedUnit.UNIT;
            });
    // Results are cut at the endpoint's row cap once locked (ResultCap).
    extensions.injectOptimizerRule(session -> new ResultCap());
    return BoxedUnit.UNIT;
  }

  private static void check(LogicalPlan plan) {
    String name = plan.getClass().getSimpleName();
    if (plan instanceof Command && !allowed(plan, name)) {
      throw new UnsupportedOperationException(
          "the paystream SQL endpoint is read-only: " + name + " is not allowed");
    }
    for (Expression e : CollectionConverters.asJava(plan.expressions())) {
      checkExpression(e);
    }
    for (LogicalPlan child : CollectionConverters.asJava(plan.children())) {
      check(child);
    }
  }

  private static boolean allowed(LogicalPlan plan, String name) {
    if (name.equals("SetCommand")) {
      // SetCommand(kv: Option[(key, Option[value])]): SET and SET key read settings, while
      // SET key=value would change them.
      Object kv = ((Product) plan).productElement(0);
      if (kv instanceof Some<?> some) {
        return !((Option<?>) ((Tuple2<?, ?>) some.get())._2()).isDefined();
      }
      return true;
    }
    return LOOKING_AROUND.contains(name);
  }

  private static void checkExpression(Expression e) {
    if (e.getClass().getSimpleName().equals("CallMethodViaReflection")) {
      throw new UnsupportedOperationException(
          "the paystream SQL endpoint is read-only: reflect() and java_method() are not allowed");
    }
    for (Expression child : CollectionConverters.asJava(e.children())) {
      checkExpression(child);
    }
  }
}

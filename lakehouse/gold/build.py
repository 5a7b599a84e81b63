"""Gold jobs: every gold table recomputed from the silver ledger tables.

Gold is built from the ledger pulled off the read replica, not from the events: the ledger is
where exactly-once money lives (deduplicated by ``processed_events``, refunds idempotent by
``refund_id``, a capture counted once), so gold sums equal ``balances`` to the minor unit.
Each table is a deterministic function of silver, written by overwrite: a re-run yields the
same rows, and the previous version stays readable by time travel.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lakehouse.gold.contract import GOLD_PARTITIONS, GOLD_TABLES, gold_schema

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

    from lakehouse.paths import LakePaths

FRAUD_REASON = "fraud_chargeback"


class Silver:
    """Reads silver tables by name."""

    def __init__(self, spark: SparkSession, paths: LakePaths) -> None:
        self.spark = spark
        self.paths = paths

    def __call__(self, name: str) -> DataFrame:
        return self.spark.read.format("delta").load(self.paths.table("silver", name))


def conform(frame: DataFrame, name: str) -> DataFrame:
    """Select and cast ``frame`` to gold table ``name``'s contract, in contract order."""
    from pyspark.sql import functions as fn

    return frame.select(
        *(fn.col(f.name).cast(f.dataType).alias(f.name) for f in gold_schema(name).fields)
    )


def merchant_statements(silver: Silver) -> DataFrame:
    """Gross (captured payments by capture day), refunds (by issue day) and net, per merchant,
    currency and day or month."""
    from pyspark.sql import functions as fn

    captured = (
        silver("payments")
        .where(fn.col("captured_at").isNotNull())
        .select("merchant_id", "currency", fn.to_date("captured_at").alias("day"), "amount_minor")
    )
    refunds = silver("refunds").select(
        "merchant_id", "currency", fn.to_date("issued_at").alias("day"), "amount_minor"
    )
    frames = []
    for granularity in ("day", "month"):
        period = fn.col("day") if granularity == "day" else fn.trunc("day", "month")
        gross = captured.groupBy("merchant_id", "currency", period.alias("period_start")).agg(
            fn.sum("amount_minor").alias("gross_minor"), fn.count(fn.lit(1)).alias("payment_count")
        )
        back = refunds.groupBy("merchant_id", "currency", period.alias("period_start")).agg(
            fn.sum("amount_minor").alias("refunds_minor"), fn.count(fn.lit(1)).alias("refund_count")
        )
        joined = gross.join(back, ["merchant_id", "currency", "period_start"], "full_outer")
        gross_sum = fn.coalesce("gross_minor", fn.lit(0))
        back_sum = fn.coalesce("refunds_minor", fn.lit(0))
        frames.append(
            joined.select(
                "merchant_id",
                "currency",
                fn.lit(granularity).alias("granularity"),
                "period_start",
                fn.coalesce("gross_minor", fn.lit(0)).alias("gross_minor"),
                fn.coalesce("refunds_minor", fn.lit(0)).alias("refunds_minor"),
                (gross_sum - back_sum).alias("net_minor"),
                fn.coalesce("payment_count", fn.lit(0)).alias("payment_count"),
                fn.coalesce("refund_count", fn.lit(0)).alias("refund_count"),
            )
        )
    return frames[0].unionByName(frames[1])


def customer_payment_history(silver: Silver) -> DataFrame:
    """Every payment of every customer with its status, refunds and risk decision."""
    decisions = silver("risk_decisions").select("payment_id", "decision")
    return silver("payments").join(decisions, "payment_id", "left")


def interactions_customer_product(silver: Silver) -> DataFrame:
    """Implicit feedback customer → product: total quantity bought, latest order, orders."""
    from pyspark.sql import functions as fn

    orders = silver("orders").select("order_id", "customer_id", "merchant_id", "placed_at")
    lines = silver("order_lines").select("order_id", "sku", "quantity")
    # Per merchant: the recommender learns each merchant's lists from its own orders only.
    return (
        lines.join(orders, "order_id")
        .groupBy(fn.col("customer_id").alias("user"), fn.col("sku").alias("item"), "merchant_id")
        .agg(
            fn.sum("quantity").alias("weight"),
            fn.max("placed_at").alias("timestamp"),
            fn.countDistinct("order_id").alias("orders"),
        )
    )


def interactions_customer_merchant(silver: Silver) -> DataFrame:
    """Implicit feedback customer → merchant: captured payments, latest capture, purchases."""
    from pyspark.sql import functions as fn

    purchase = fn.coalesce("order_id", "booking_id", "payment_id")
    return (
        silver("payments")
        .where(fn.col("captured_at").isNotNull())
        .groupBy(fn.col("customer_id").alias("user"), fn.col("merchant_id").alias("item"))
        .agg(
            fn.count(fn.lit(1)).alias("weight"),
            fn.max("captured_at").alias("timestamp"),
            fn.countDistinct(purchase).alias("orders"),
        )
    )


def _authorized_at() -> Column:
    from pyspark.sql import functions as fn

    # A capture or failure can reach the ledger without its authorization (out of order or
    # lost upstream); the earliest known fact stands in so every payment has a time.
    return fn.coalesce("authorized_at", "captured_at", "failed_at")


def fraud_labels(silver: Silver) -> DataFrame:
    """One row per payment: label 1 when it got a ``fraud_chargeback`` refund, else 0."""
    from pyspark.sql import functions as fn

    charged_back = (
        silver("refunds")
        .where((fn.col("reason") == FRAUD_REASON) & fn.col("payment_id").isNotNull())
        .select("payment_id")
        .distinct()
        .withColumn("fraud", fn.lit(1))
    )
    return (
        silver("payments")
        .join(charged_back, "payment_id", "left")
        .select(
            "payment_id",
            "customer_id",
            "merchant_id",
            "card_fingerprint",
            "currency",
            "amount_minor",
            _authorized_at().alias("authorized_at"),
            fn.coalesce("fraud", fn.lit(0)).alias("label"),
            fn.when(fn.col("fraud") == 1, fn.lit("refund.fraud_chargeback"))
            .otherwise(fn.lit("no_chargeback"))
            .alias("label_source"),
        )
    )


def risk_kpis(silver: Silver, labels: DataFrame) -> DataFrame:
    """Per authorization day: payments, declines, reviews, frauds and their rates."""
    from pyspark.sql import functions as fn

    decisions = silver("risk_decisions").select("payment_id", "decision")
    daily = (
        labels.join(decisions, "payment_id", "left")
        .where(fn.col("authorized_at").isNotNull())
        .groupBy(fn.to_date("authorized_at").alias("day"))
        .agg(
            fn.count(fn.lit(1)).alias("payments"),
            fn.sum(fn.when(fn.col("decision") == "decline", 1).otherwise(0)).alias("declined"),
            fn.sum(fn.when(fn.col("decision") == "review", 1).otherwise(0)).alias("reviewed"),
            fn.sum("label").alias("frauds"),
        )
    )
    return daily.withColumn("decline_rate", fn.col("declined") / fn.col("payments")).withColumn(
        "fraud_rate", fn.col("frauds") / fn.col("payments")
    )


def _decision_day() -> Column:
    from pyspark.sql import functions as fn

    # The authorization's day, as for payments; a decision without one counts when decided.
    return fn.to_date(fn.coalesce("authorized_at", "decided_at"))


def risk_reasons(silver: Silver) -> DataFrame:
    """Per decision day: how many decisions of each kind cited each reason code.

    A decision citing three codes counts once under each; one citing none counts under
    ``NONE``, so the approvals the rules had nothing to say about still show.
    """
    from pyspark.sql import functions as fn

    decisions = silver("risk_decisions").select(
        _decision_day().alias("day"),
        "decision",
        fn.explode(
            fn.when(
                fn.coalesce(fn.trim("reasons"), fn.lit("")) == "", fn.array(fn.lit("NONE"))
            ).otherwise(fn.split("reasons", ","))
        ).alias("reason"),
    )
    return decisions.groupBy("day", fn.trim("reason").alias("reason"), "decision").agg(
        fn.count(fn.lit(1)).alias("decisions")
    )


def _product_lines(silver: Silver) -> DataFrame:
    """Every order line with its order's merchant, currency and time."""
    from pyspark.sql import functions as fn

    orders = silver("orders").select("order_id", "merchant_id", "currency", "placed_at")
    lines = silver("order_lines").select(
        "order_id",
        "line_no",
        fn.col("sku").alias("item"),
        "description",
        "quantity",
        "unit_price_minor",
    )
    return lines.join(orders, "order_id")


def _product_names(lines: DataFrame) -> DataFrame:
    """``merchant_id, item, description``: the description a merchant's lines use most."""
    from pyspark.sql import Window
    from pyspark.sql import functions as fn

    # Online Retail spells some products several ways; the commonest spelling wins, ties
    # broken by name so that a rebuild picks the same one.
    spellings = lines.groupBy("merchant_id", "item", "description").agg(
        fn.count(fn.lit(1)).alias("uses")
    )
    rank = Window.partitionBy("merchant_id", "item").orderBy(fn.desc("uses"), fn.asc("description"))
    return (
        spellings.withColumn("rank", fn.row_number().over(rank))
        .where(fn.col("rank") == 1)
        .select("merchant_id", "item", "description")
    )


def product_daily(silver: Silver) -> DataFrame:
    """Units, orders and revenue per product, merchant, currency and order day, with the
    product's name: the description its merchant's order lines use most often."""
    from pyspark.sql import functions as fn

    joined = _product_lines(silver)
    daily = joined.groupBy(
        fn.to_date("placed_at").alias("day"), "merchant_id", "item", "currency"
    ).agg(
        fn.sum("quantity").alias("units"),
        fn.countDistinct("order_id").alias("orders"),
        fn.sum(fn.col("quantity") * fn.col("unit_price_minor")).alias("revenue_minor"),
    )
    return daily.join(_product_names(joined), ["merchant_id", "item"], "left")


def product_catalogue(silver: Silver) -> DataFrame:
    """One row per merchant and product: its name (as in ``product_daily``) and the unit
    price and currency of the merchant's latest order line for it, with that order's time.

    "Latest" is by order time, then order id, then line number, so that lines placed in the
    same second still give one answer on every rebuild.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as fn

    joined = _product_lines(silver)
    newest = Window.partitionBy("merchant_id", "item").orderBy(
        fn.desc("placed_at"), fn.desc("order_id"), fn.desc("line_no")
    )
    prices = (
        joined.withColumn("rank", fn.row_number().over(newest))
        .where(fn.col("rank") == 1)
        .select(
            "merchant_id",
            "item",
            "unit_price_minor",
            "currency",
            fn.col("placed_at").alias("priced_at"),
        )
    )
    names = _product_names(joined).withColumnRenamed("description", "name")
    return prices.join(names, ["merchant_id", "item"], "left")


def customer_payment_history_at(silver: Silver) -> DataFrame:
    """The history with every payment's authorization time (or its earliest known fact)."""
    return customer_payment_history(silver).withColumn("authorized_at", _authorized_at())


#: Gold table → the function of silver that computes it. Incremental builds call the same
#: functions on silver narrowed to the changed slices.
BUILDERS: dict[str, Callable[[Silver], DataFrame]] = {
    "merchant_statements": merchant_statements,
    "customer_payment_history": customer_payment_history_at,
    "interactions_customer_product": interactions_customer_product,
    "interactions_customer_merchant": interactions_customer_merchant,
    "fraud_labels": fraud_labels,
    "risk_kpis": lambda silver: risk_kpis(silver, fraud_labels(silver)),
    "risk_reasons": risk_reasons,
    "product_daily": product_daily,
    "product_catalogue": product_catalogue,
}
assert set(BUILDERS) == set(GOLD_TABLES)


def gold_frames(spark: SparkSession, paths: LakePaths) -> dict[str, DataFrame]:
    """Every gold table as a frame conformed to the contract (nothing written yet)."""
    silver = Silver(spark, paths)
    return {name: conform(build(silver), name) for name, build in BUILDERS.items()}


@dataclass(frozen=True)
class GoldBuild:
    """Row counts of every gold table, and how they were written."""

    rows: dict[str, int]
    #: None for a full recompute; else what the incremental build merged.
    merged: str | None = None
    #: Why an incremental build recomputed gold whole instead.
    recomputed_because: str | None = None


def build_gold(
    spark: SparkSession,
    paths: LakePaths,
    progress: Callable[[str, int], None] | None = None,
    *,
    full: bool = True,
) -> GoldBuild:
    """Write every gold table and count its rows.

    ``full=False`` recomputes only the slices silver changed in since the previous gold
    build (:mod:`lakehouse.gold.incremental`), when that build left its marks; otherwise,
    or when too much changed, every table is recomputed.
    """
    from lakehouse.gold.incremental import (
        FullBuildNeeded,
        build_incremental,
        save_marks,
        silver_marks,
    )
    from lakehouse.tables import overwrite

    marks = silver_marks(spark, paths)
    because = None
    if not full:
        try:
            rows, merged = build_incremental(spark, paths, marks, progress)
        except FullBuildNeeded as reason:
            because = str(reason)
        else:
            save_marks(spark, paths, marks)
            return GoldBuild(rows, merged)
    counts: dict[str, int] = {}
    for name, frame in gold_frames(spark, paths).items():
        path = paths.table("gold", name)
        overwrite(frame, path, partition_by=GOLD_PARTITIONS.get(name, ()))
        counts[name] = written_rows(spark, path)
        if progress is not None:
            progress(name, counts[name])
    save_marks(spark, paths, marks)
    return GoldBuild(counts, recomputed_because=because)


def written_rows(spark: SparkSession, path: str) -> int:
    """Rows of the Delta table at ``path`` (Delta answers from its log's statistics)."""
    return int(spark.read.format("delta").load(path).count())

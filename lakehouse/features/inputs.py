"""Point-in-time feature inputs for every payment of a history, with Spark windows.

For each payment this computes what the risk agent reads from Redis when it decides it live
(:mod:`risk.lookup`, :mod:`risk.graph_cache`), in event time: the customer's, card's and
device's windows, the customer's month and lifetime of earlier payments, first sightings of
devices and countries, the customer's and merchant's profiles, the merchant's refunds and its
delayed fraud rates, and the graph's users and flagged neighbours. The transform from these
inputs to the model's features is not here: :mod:`lakehouse.features.offline` applies the
agent's own :func:`paystream.contracts.fraud_features.compute_features` to them.

The order of a history is its publication order, ``(authorized_at, payment_id)``, the order
``paystream import transactions`` sends it in. "Up to a payment" means every payment before it
in that order and itself; a window spanning ``s`` ms holds the payments in ``(t - s, t]``. A
range frame over time also holds the payments that share ``t`` but come *after* this one;
they are subtracted (``_later_ties``), as the agent, which reads a customer's payments in
order, never sees them.

What a history file implies, as the importer implies it (:mod:`ingest.transactions.importer`):
each customer and merchant registers at its first payment (the customer's home is that
payment's country, or ``unknown``; the merchant's category is the mapping's); each payment is
captured one second after its authorization; a fraud is charged back (a refund, and the
customer's fraud flag) ``chargeback_delay`` after the capture.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from paystream.contracts.fraud_features import DAY_WINDOWS

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame
    from pyspark.sql.window import WindowSpec

MINUTE_MS, HOUR_MS, DAY_MS = 60_000, 3_600_000, 86_400_000
#: The importer captures each payment this long after its authorization.
CAPTURE_AFTER_MS = 1_000
#: The span of the merchant's refund rate (refunds issued / payments authorized).
REFUND_RATE_SPAN_MS = 30 * DAY_MS
UNKNOWN_COUNTRY = "unknown"
#: A history's publication order, within any one key.
ORDER = ("at_ms", "payment_id")


@dataclass(frozen=True)
class HistoryTiming:
    """When labels and refunds become known, relative to the payments."""

    #: ``risk.label_delay_days`` in ms: the fraud rates count payments this far back.
    label_delay_ms: int = 7 * DAY_MS
    #: The import's chargeback delay after the capture, in ms.
    chargeback_delay_ms: int = 7 * DAY_MS


def _window(*partition: str) -> WindowSpec:
    from pyspark.sql import Window

    return Window.partitionBy(*partition).orderBy("at_ms")


def _later_ties(value: Column, *partition: str) -> Column:
    """``value`` summed over the payments of ``partition`` at the same time, after this one."""
    from pyspark.sql import Window
    from pyspark.sql import functions as fn

    later = (
        Window.partitionBy(*partition, "at_ms")
        .orderBy(*ORDER)
        .rowsBetween(1, Window.unboundedFollowing)
    )
    return fn.coalesce(fn.sum(value).over(later), fn.lit(0))


def _in_span(value: Column, span_ms: int, *partition: str) -> Column:
    """``value`` summed over ``partition``'s payments in ``(t - span, t]`` up to this one."""
    from pyspark.sql import functions as fn

    frame = _window(*partition).rangeBetween(-(span_ms - 1), 0)
    return fn.sum(value).over(frame) - _later_ties(value, *partition)


def _entity_windows(frame: DataFrame, entity: str, prefix: str) -> DataFrame:
    """The 1-minute, 1-hour and 24-hour counts of ``entity``'s payments (every currency) and
    the last hour's amount in this payment's currency; null where the payment has no
    ``entity``."""
    from pyspark.sql import functions as fn

    one = fn.lit(1)
    present = fn.col(entity).isNotNull()
    columns = {
        f"{prefix}_count_1m": _in_span(one, MINUTE_MS, entity),
        f"{prefix}_count_1h": _in_span(one, HOUR_MS, entity),
        f"{prefix}_count_24h": _in_span(one, DAY_MS, entity),
        f"{prefix}_amount_1h": _in_span(fn.col("amount_minor"), HOUR_MS, entity, "currency"),
    }
    return frame.withColumns(
        {name: fn.when(present, value.cast("long")) for name, value in columns.items()}
    )


def _customer_days(frame: DataFrame) -> DataFrame:
    """The customer's month (every merchant): 7- and 30-day counts, and the earlier payments in
    this currency (count and sum) over each of :data:`DAY_WINDOWS`, this one excluded."""
    from pyspark.sql import functions as fn

    one, amount = fn.lit(1), fn.col("amount_minor")
    columns = {
        "days_count_7d": _in_span(one, 7 * DAY_MS, "customer_id"),
        "days_count_30d": _in_span(one, 30 * DAY_MS, "customer_id"),
    }
    for d in DAY_WINDOWS:
        span = d * DAY_MS
        columns[f"prior_count_{d}d"] = _in_span(one, span, "customer_id", "currency") - 1
        columns[f"prior_minor_{d}d"] = _in_span(amount, span, "customer_id", "currency") - amount
    return frame.withColumns({name: value.cast("long") for name, value in columns.items()})


def _customer_lifetime(frame: DataFrame) -> DataFrame:
    """The customer's earlier payments: how many (any currency), and the mean amount of those
    in this payment's currency."""
    from pyspark.sql import Window
    from pyspark.sql import functions as fn

    before = Window.unboundedPreceding, -1
    everything = Window.partitionBy("customer_id").orderBy(*ORDER).rowsBetween(*before)
    in_currency = Window.partitionBy("customer_id", "currency").orderBy(*ORDER).rowsBetween(*before)
    count = fn.count(fn.lit(1)).over(in_currency)
    total = fn.sum("amount_minor").over(in_currency)
    return frame.withColumns(
        {
            "prior_payments": fn.count(fn.lit(1)).over(everything),
            "customer_mean_minor": fn.when(count > 0, total / count),
        }
    )


def _sightings(frame: DataFrame, value: str, prefix: str) -> DataFrame:
    """When the customer first used this ``value`` (device or country), and when it first used
    any, each up to this payment; null without a ``value``."""
    from pyspark.sql import Window
    from pyspark.sql import functions as fn

    upto = (Window.unboundedPreceding, Window.currentRow)
    this = Window.partitionBy("customer_id", value).orderBy(*ORDER).rowsBetween(*upto)
    anything = Window.partitionBy("customer_id").orderBy(*ORDER).rowsBetween(*upto)
    present = fn.col(value).isNotNull()
    return frame.withColumns(
        {
            f"{prefix}_first_ms": fn.when(present, fn.min("at_ms").over(this)),
            f"{prefix}_earliest_ms": fn.when(
                present, fn.min(fn.when(present, fn.col("at_ms"))).over(anything)
            ),
        }
    )


def _profiles(frame: DataFrame) -> DataFrame:
    """The customer's registered home (its first payment's country, or ``unknown``)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as fn

    first = (
        Window.partitionBy("customer_id")
        .orderBy(*ORDER)
        .rowsBetween(Window.unboundedPreceding, Window.unboundedFollowing)
    )
    home = fn.first(fn.coalesce("country", fn.lit(UNKNOWN_COUNTRY))).over(first)
    return frame.withColumn("home_country", home)


def _merchant(frame: DataFrame, timing: HistoryTiming) -> DataFrame:
    """The merchant's refund rate over 30 days and its delayed fraud rates.

    Fraud labels arrive at a fixed delay after the payment in an imported history, so "charged
    back by the decision" is "authorized at least the delay and the capture before it", and
    both counts are range frames over the merchant's payments.
    """
    from pyspark.sql import functions as fn

    one, fraud = fn.lit(1), fn.col("fraud").cast("long")
    window = _window("merchant_id")
    delay = timing.label_delay_ms
    labelled = timing.chargeback_delay_ms + CAPTURE_AFTER_MS
    columns: dict[str, Column] = {
        "merchant_payments_30d": _in_span(one, REFUND_RATE_SPAN_MS, "merchant_id"),
        # A chargeback at ``t`` is issued before this payment is sent: (t - 30 d, t].
        "merchant_refunds_30d": fn.coalesce(
            fn.sum(fraud).over(
                window.rangeBetween(-(REFUND_RATE_SPAN_MS + labelled - 1), -labelled)
            ),
            fn.lit(0),
        ),
    }
    for d in DAY_WINDOWS:
        span = d * DAY_MS
        lo, hi = -(delay + span - 1), -delay
        columns[f"merchant_paid_{d}d"] = fn.coalesce(
            fn.count(one).over(window.rangeBetween(lo, hi)), fn.lit(0)
        )
        known_hi = min(hi, -labelled)
        columns[f"merchant_frauds_{d}d"] = (
            fn.coalesce(fn.sum(fraud).over(window.rangeBetween(lo, known_hi)), fn.lit(0))
            if known_hi >= lo
            else fn.lit(0)
        )
    return frame.withColumns({name: value.cast("long") for name, value in columns.items()})


def _users(frame: DataFrame, entity: str, prefix: str) -> DataFrame:
    """Per payment with an ``entity``: the customers whose first use of it was at or before
    the payment's time (``{prefix}_customers``)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as fn

    first_uses = (
        frame.where(fn.col(entity).isNotNull())
        .groupBy(entity, "customer_id")
        .agg(fn.min("at_ms").alias("at_ms"))
        .select(entity, "at_ms", fn.lit(0).alias("kind"), fn.lit(None).cast("string").alias("pid"))
    )
    payments = frame.where(fn.col(entity).isNotNull()).select(
        entity, "at_ms", fn.lit(1).alias("kind"), fn.col("payment_id").alias("pid")
    )
    # A first use at the payment's own time counts: uses sort before payments at one time.
    running = (
        Window.partitionBy(entity)
        .orderBy("at_ms", "kind")
        .rowsBetween(Window.unboundedPreceding, Window.currentRow)
    )
    return (
        first_uses.unionByName(payments)
        .withColumn("users", fn.sum(1 - fn.col("kind")).over(running))
        .where(fn.col("kind") == 1)
        .select(fn.col("pid").alias("payment_id"), fn.col("users").alias(f"{prefix}_customers"))
    )


def _link(kind: str) -> Column:
    """A payment's use of its device or card as the graph cache's link member, ``kind|id``."""
    from pyspark.sql import functions as fn

    return fn.when(fn.col(kind).isNotNull(), fn.concat_ws("|", fn.lit(kind), kind))


def _flagged_neighbours(frame: DataFrame, timing: HistoryTiming) -> DataFrame:
    """Per payment with any: the flagged customers within two hops of the payer, each counted
    once (``fraud_linked_customers``): any customer who shares one of the payer's devices or
    cards, both uses and the flag at or before the payment, and the payer itself when flagged
    by then."""
    from pyspark.sql import functions as fn

    labelled = timing.chargeback_delay_ms + CAPTURE_AFTER_MS
    flags = (
        frame.where("fraud")
        .groupBy("customer_id")
        .agg((fn.min("at_ms") + labelled).alias("flag_ms"))
    )
    links = (
        frame.select(
            "customer_id",
            "at_ms",
            fn.explode(
                fn.array_compact(
                    fn.array(
                        fn.when(
                            fn.col("device").isNotNull(),
                            fn.concat_ws("|", fn.lit("device"), "device"),
                        ),
                        fn.when(
                            fn.col("card").isNotNull(), fn.concat_ws("|", fn.lit("card"), "card")
                        ),
                    )
                )
            ).alias("link"),
        )
        .groupBy("customer_id", "link")
        .agg(fn.min("at_ms").alias("first_ms"))
    )
    flagged_users = links.join(fn.broadcast(flags), "customer_id").select(
        "link",
        fn.col("customer_id").alias("neighbour"),
        fn.greatest("first_ms", "flag_ms").alias("since_ms"),
    )
    # Per payer: each flagged neighbour over each shared link, from when both were true.
    reachable = links.join(fn.broadcast(flagged_users), "link").select(
        "customer_id", "neighbour", fn.greatest("first_ms", "since_ms").alias("known_ms")
    )
    payer_flags = flags.select(
        "customer_id", fn.col("customer_id").alias("neighbour"), fn.col("flag_ms").alias("known_ms")
    )
    payments = frame.select("payment_id", "customer_id", "at_ms")
    return (
        payments.join(reachable.unionByName(payer_flags), "customer_id")
        .where(fn.col("known_ms") <= fn.col("at_ms"))
        .groupBy("payment_id")
        .agg(fn.countDistinct("neighbour").alias("fraud_linked_customers"))
    )


def _added(frame: DataFrame, base: DataFrame) -> DataFrame:
    """Only the payment id and the columns ``frame`` added to ``base``."""
    return frame.select("payment_id", *(c for c in frame.columns if c not in base.columns))


def feature_inputs(transactions: DataFrame, timing: HistoryTiming) -> DataFrame:
    """Every payment of ``transactions`` with the inputs the agent would read for it.

    ``transactions`` columns: payment_id, at_ms (authorization, epoch ms), customer_id,
    merchant_id, amount_minor, currency, card, device, country (nullable), fraud (boolean).
    Cache it: every part below reads it.
    """
    from pyspark.sql import functions as fn

    # The customer's windows on the whole rows: one shuffle (a frame hashed on the customer
    # also serves (customer, currency) and (customer, time)), then only sorts.
    frame = _entity_windows(transactions, "customer_id", "customer")
    frame = _customer_days(frame)
    frame = _customer_lifetime(frame)
    frame = _sightings(frame, "device", "device")
    frame = _sightings(frame, "country", "country")
    frame = _profiles(frame)
    # Every other key on narrow rows of the base, joined back once by payment: a shuffle of
    # the wide rows per key would cost several times as much.
    keyed = [
        _added(_entity_windows(transactions, "card", "card"), transactions),
        _added(_entity_windows(transactions, "device", "device"), transactions),
        _added(_merchant(transactions, timing), transactions),
        _users(transactions, "device", "device"),
        _users(transactions, "card", "card"),
    ]
    for part in keyed:
        frame = frame.join(part, "payment_id", "left")
    linked = _flagged_neighbours(transactions, timing)
    frame = frame.join(linked, "payment_id", "left").fillna(0, ["fraud_linked_customers"])
    labelled = timing.chargeback_delay_ms + CAPTURE_AFTER_MS
    return frame.withColumn(
        "label_known_ms", fn.when(fn.col("fraud"), fn.col("at_ms") + labelled).cast("long")
    )

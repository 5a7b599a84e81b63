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
#: The landed row's number in the file, unique per payment once duplicates are routed: parts
#: computed on narrow rows join back on it, not on the id. Sorting string ids that share a
#: long prefix (``sim2026-p…``) defeats Spark's 8-byte sort prefix.
KEY = "row"


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


def _sorted(frame: DataFrame, *keys: str) -> DataFrame:
    """``frame`` sorted within its partitions by ``keys`` and the publication order.

    Every window over ``keys`` below needs a prefix of this order (``keys`` then ``at_ms``,
    or ``keys``, ``at_ms`` and ``payment_id``), so one sort serves all of them. Left to
    itself, Spark sorts the wide rows once per distinct window spec: twelve sorts for the
    customer's windows alone.
    """
    return frame.sortWithinPartitions(*keys, *ORDER)


def _later_ties(value: Column, *partition: str) -> Column:
    """``value`` summed over the payments of ``partition`` at the same time, after this one."""
    from pyspark.sql import Window
    from pyspark.sql import functions as fn

    # Ordered by the id alone: within one time the id is the publication order, and this
    # spec then needs only the (partition, at_ms, payment_id) sort its group shares.
    later = (
        Window.partitionBy(*partition, "at_ms")
        .orderBy("payment_id")
        .rowsBetween(1, Window.unboundedFollowing)
    )
    return fn.coalesce(fn.sum(value).over(later), fn.lit(0))


def _in_span(value: Column, span_ms: int, *partition: str) -> Column:
    """``value`` summed over ``partition``'s payments in ``(t - span, t]`` up to this one."""
    from pyspark.sql import functions as fn

    frame = _window(*partition).rangeBetween(-(span_ms - 1), 0)
    return fn.sum(value).over(frame) - _later_ties(value, *partition)


def _before(*partition: str) -> WindowSpec:
    """``partition``'s payments before this one, in publication order."""
    from pyspark.sql import Window

    return Window.partitionBy(*partition).orderBy(*ORDER).rowsBetween(Window.unboundedPreceding, -1)


def _upto(*partition: str) -> WindowSpec:
    """``partition``'s payments up to and including this one, in publication order."""
    from pyspark.sql import Window

    return Window.partitionBy(*partition).orderBy(*ORDER).rowsBetween(Window.unboundedPreceding, 0)


def _counts(entity: str, prefix: str) -> dict[str, Column]:
    """The 1-minute, 1-hour and 24-hour counts of ``entity``'s payments (every currency)."""
    from pyspark.sql import functions as fn

    one = fn.lit(1)
    spans = {"1m": MINUTE_MS, "1h": HOUR_MS, "24h": DAY_MS}
    return {f"{prefix}_count_{n}": _in_span(one, span, entity) for n, span in spans.items()}


def _amount_1h(entity: str, prefix: str) -> dict[str, Column]:
    """The last hour's amount of ``entity``'s payments in this payment's currency."""
    from pyspark.sql import functions as fn

    amount = _in_span(fn.col("amount_minor"), HOUR_MS, entity, "currency")
    return {f"{prefix}_amount_1h": amount}


def _longs(columns: dict[str, Column]) -> dict[str, Column]:
    return {name: value.cast("long") for name, value in columns.items()}


def _customer_in_currency() -> dict[str, Column]:
    """Over the customer's payments in this currency: the last hour's amount, the earlier
    payments (count and sum) over each of :data:`DAY_WINDOWS`, this one excluded, and the
    mean amount of all its earlier ones."""
    from pyspark.sql import functions as fn

    one, amount = fn.lit(1), fn.col("amount_minor")
    columns = _amount_1h("customer_id", "customer")
    for d in DAY_WINDOWS:
        span = d * DAY_MS
        columns[f"prior_count_{d}d"] = _in_span(one, span, "customer_id", "currency") - 1
        columns[f"prior_minor_{d}d"] = _in_span(amount, span, "customer_id", "currency") - amount
    earlier = _before("customer_id", "currency")
    count = fn.count(one).over(earlier)
    frame = _longs(columns)
    frame["customer_mean_minor"] = fn.when(count > 0, fn.sum(amount).over(earlier) / count)
    return frame


def _customer_any_currency() -> dict[str, Column]:
    """Over all the customer's payments: its windows over minutes to 30 days, how many came
    before, when it first used any device and any country, and its registered home (its
    first payment's country, or ``unknown``)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as fn

    one = fn.lit(1)
    columns = _counts("customer_id", "customer")
    columns["days_count_7d"] = _in_span(one, 7 * DAY_MS, "customer_id")
    columns["days_count_30d"] = _in_span(one, 30 * DAY_MS, "customer_id")
    frame = _longs(columns)
    frame["prior_payments"] = fn.count(one).over(_before("customer_id"))
    upto = _upto("customer_id")
    for value in ("device", "country"):
        present = fn.col(value).isNotNull()
        earliest = fn.min(fn.when(present, fn.col("at_ms"))).over(upto)
        frame[f"{value}_earliest_ms"] = fn.when(present, earliest)
    whole = upto.rowsBetween(Window.unboundedPreceding, Window.unboundedFollowing)
    frame["home_country"] = fn.first(fn.coalesce("country", fn.lit(UNKNOWN_COUNTRY))).over(whole)
    return frame


def _first_use(value: str) -> dict[str, Column]:
    """When the customer first used this ``value`` (device or country), up to this payment;
    null without a ``value``."""
    from pyspark.sql import functions as fn

    first = fn.min("at_ms").over(_upto("customer_id", value))
    return {f"{value}_first_ms": fn.when(fn.col(value).isNotNull(), first)}


def _customer(transactions: DataFrame) -> DataFrame:
    """The whole rows with every customer input: one shuffle on the customer, then one sort
    per group of windows that share an order (the customer in each currency, the customer,
    the customer's devices, its countries)."""
    frame = transactions.repartition("customer_id")
    frame = _sorted(frame, "customer_id", "currency").withColumns(_customer_in_currency())
    frame = _sorted(frame, "customer_id").withColumns(_customer_any_currency())
    frame = _sorted(frame, "customer_id", "device").withColumns(_first_use("device"))
    return _sorted(frame, "customer_id", "country").withColumns(_first_use("country"))


def _entity_windows(transactions: DataFrame, entity: str, prefix: str) -> DataFrame:
    """Per payment with an ``entity``: the 1-minute, 1-hour and 24-hour counts of its
    payments (every currency) and the last hour's amount in this payment's currency, on
    narrow rows (payments without one get nulls from the join)."""
    from pyspark.sql import functions as fn

    frame = (
        transactions.where(fn.col(entity).isNotNull())
        .select(KEY, "payment_id", entity, "currency", "at_ms", "amount_minor")
        .repartition(entity)
    )
    frame = _sorted(frame, entity).withColumns(_longs(_counts(entity, prefix)))
    frame = _sorted(frame, entity, "currency").withColumns(_longs(_amount_1h(entity, prefix)))
    return frame.select(KEY, *(c for c in frame.columns if c.startswith(f"{prefix}_")))


def _merchant(transactions: DataFrame, timing: HistoryTiming) -> DataFrame:
    """The merchant's refund rate over 30 days and its delayed fraud rates, on narrow rows.

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
    frame = transactions.select(KEY, "payment_id", "merchant_id", "at_ms", "fraud")
    frame = _sorted(frame.repartition("merchant_id"), "merchant_id").withColumns(_longs(columns))
    return frame.select(KEY, *columns)


def _users(frame: DataFrame, entity: str, prefix: str) -> DataFrame:
    """Per payment with an ``entity``: the customers whose first use of it was at or before
    the payment's time (``{prefix}_customers``)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as fn

    first_uses = (
        frame.where(fn.col(entity).isNotNull())
        .groupBy(entity, "customer_id")
        .agg(fn.min("at_ms").alias("at_ms"))
        .select(entity, "at_ms", fn.lit(0).alias("kind"), fn.lit(None).cast("long").alias("pid"))
    )
    payments = frame.where(fn.col(entity).isNotNull()).select(
        entity, "at_ms", fn.lit(1).alias("kind"), fn.col(KEY).alias("pid")
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
        .select(fn.col("pid").alias(KEY), fn.col("users").alias(f"{prefix}_customers"))
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
    payments = frame.select(KEY, "customer_id", "at_ms")
    return (
        payments.join(reachable.unionByName(payer_flags), "customer_id")
        .where(fn.col("known_ms") <= fn.col("at_ms"))
        .groupBy(KEY)
        .agg(fn.countDistinct("neighbour").alias("fraud_linked_customers"))
    )


def feature_inputs(transactions: DataFrame, timing: HistoryTiming) -> DataFrame:
    """Every payment of ``transactions`` with the inputs the agent would read for it.

    ``transactions`` columns: row (unique), payment_id, at_ms (authorization, epoch ms),
    customer_id, merchant_id, amount_minor, currency, card, device, country (nullable), fraud
    (boolean). Cache it: every part below reads it.
    """
    from pyspark.sql import functions as fn

    # The customer's windows on the whole rows; every other key on narrow rows of the base,
    # joined back once by row: a shuffle of the wide rows per key costs several times as
    # much.
    frame = _customer(transactions)
    keyed = [
        _entity_windows(transactions, "card", "card"),
        _entity_windows(transactions, "device", "device"),
        _merchant(transactions, timing),
        _users(transactions, "device", "device"),
        _users(transactions, "card", "card"),
    ]
    for part in keyed:
        frame = frame.join(part, KEY, "left")
    linked = _flagged_neighbours(transactions, timing)
    frame = frame.join(linked, KEY, "left").fillna(0, ["fraud_linked_customers"])
    labelled = timing.chargeback_delay_ms + CAPTURE_AFTER_MS
    return frame.withColumn(
        "label_known_ms", fn.when(fn.col("fraud"), fn.col("at_ms") + labelled).cast("long")
    )

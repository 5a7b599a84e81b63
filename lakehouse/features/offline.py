"""The offline fraud features of a history: the agent's transform on point-in-time inputs.

:func:`lakehouse.features.inputs.feature_inputs` computes, with Spark windows in event time,
what the risk agent would read for each payment; this module turns each row into
:class:`~paystream.contracts.fraud_features.FeatureInputs` and applies the very
:func:`~paystream.contracts.fraud_features.compute_features` the agent scores with, and the
rules' score the agent logs beside it. The transforms have one definition; only the lookups
differ (Redis and the graph live, window functions here).

The result is a Delta table partitioned by day: payment, customer, card, authorization time,
every feature of :data:`~paystream.contracts.fraud_features.FEATURES`, the rules' score, the
label and when it became known.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from paystream.contracts.fraud_features import (
    DAY_WINDOWS,
    FEATURES,
    DayWindows,
    FeatureInputs,
    GraphView,
    MerchantFraud,
    Window,
    compute_features,
    country_signals,
    first_sighting,
)
from paystream.contracts.fraud_rules import evaluate_rules

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import DataFrame

#: Columns of the offline feature table besides the features themselves.
KEYS = ("payment_id", "customer_id", "card", "authorized_at", "day")
EXTRA = ("rules_score", "label", "label_known_at")


#: Column names per entity and per day-window column, formatted once, not once per row.
_WINDOWS = {
    prefix: tuple(f"{prefix}_{name}" for name in ("count_1m", "count_1h", "count_24h", "amount_1h"))
    for prefix in ("customer", "card", "device")
}
_PER_WINDOW = {
    column: tuple(column.format(d) for d in DAY_WINDOWS)
    for column in ("prior_count_{}d", "prior_minor_{}d", "merchant_paid_{}d", "merchant_frauds_{}d")
}


def _window(row: Any, prefix: str) -> Window | None:
    count_1m, count_1h, count_24h, amount_1h = (row[name] for name in _WINDOWS[prefix])
    if count_1m is None or count_1m != count_1m:  # null, or NaN from pandas
        return None
    return Window(int(count_1m), int(count_1h), int(count_24h), int(amount_1h))


def _int(value: Any) -> int | None:
    return None if value is None or value != value else int(value)


def _per_window(row: Any, column: str) -> tuple[int, int, int]:
    """One value per day window of :data:`DAY_WINDOWS`, from ``column`` formatted with each."""
    short, week, month = (int(row[name]) for name in _PER_WINDOW[column])
    return short, week, month


def inputs_of(row: Any, merchant_category: str) -> FeatureInputs:
    """One payment's feature inputs from its row of :func:`feature_inputs` columns."""
    at = int(row["at_ms"])
    customer = _window(row, "customer")
    new_country, foreign = country_signals(
        row["country"],
        row["home_country"],
        _int(row["country_first_ms"]),
        _int(row["country_earliest_ms"]),
        at,
    )
    mean = row["customer_mean_minor"]
    paid30 = int(row["merchant_payments_30d"])
    return FeatureInputs(
        amount_minor=int(row["amount_minor"]),
        currency=row["currency"],
        customer=customer or Window(),
        card=_window(row, "card"),
        device=_window(row, "device"),
        customer_mean_minor=None if mean is None or mean != mean else float(mean),
        customer_prior_payments=int(row["prior_payments"]),
        # Registered at its first payment, never as a guest (as the importer registers it).
        customer_guest=False,
        new_device=first_sighting(
            _int(row["device_first_ms"]), _int(row["device_earliest_ms"]), at
        ),
        new_country=new_country,
        foreign_country=foreign,
        merchant_refund_rate=int(row["merchant_refunds_30d"]) / paid30 if paid30 else None,
        merchant_category=merchant_category,
        graph=GraphView(
            device_customers=_int(row["device_customers"]) or 0,
            card_customers=_int(row["card_customers"]) or 0,
            fraud_linked_customers=int(row["fraud_linked_customers"]),
        ),
        customer_days=DayWindows(
            int(row["days_count_7d"]),
            int(row["days_count_30d"]),
            _per_window(row, "prior_count_{}d"),
            _per_window(row, "prior_minor_{}d"),
        ),
        merchant_fraud=MerchantFraud(
            payments=_per_window(row, "merchant_paid_{}d"),
            frauds=_per_window(row, "merchant_frauds_{}d"),
        ),
    )


def _records(frame: pd.DataFrame) -> Iterator[dict[str, Any]]:
    """The batch's rows as dicts, from whole columns: ``to_dict("records")`` boxes every
    value of Arrow-backed columns one at a time, several times slower."""
    names = list(frame.columns)
    for values in zip(*(frame[name].tolist() for name in names), strict=True):
        yield dict(zip(names, values, strict=True))


def vectors(frame: pd.DataFrame, merchant_category: str) -> pd.DataFrame:
    """Feature vectors and rules' scores for a pandas batch of input rows."""
    import pandas as pd

    rows: list[dict[str, Any]] = []
    for row in _records(frame):
        vector = compute_features(inputs_of(row, merchant_category))
        rows.append({**vector, "rules_score": evaluate_rules(vector).score})
    # Floats throughout: a missing feature is NaN here and null in the table (Arrow masks it).
    return pd.DataFrame(rows, columns=[*FEATURES, "rules_score"], index=frame.index, dtype=float)


def output_schema() -> str:
    """The offline table's schema as a Spark DDL string."""
    features = ", ".join(f"{name} double" for name in FEATURES)
    return (
        "payment_id string, customer_id string, card string, authorized_at timestamp, "
        f"day date, {features}, rules_score double, label int, label_known_at timestamp"
    )


def apply_transform(inputs: DataFrame, merchant_category: str) -> DataFrame:
    """The offline feature table's rows from :func:`feature_inputs` rows."""
    import pandas as pd

    def batches(frames: Iterable[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for frame in frames:
            computed = vectors(frame, merchant_category)
            at = pd.to_datetime(frame["at_ms"], unit="ms", utc=True)
            known = pd.to_datetime(frame["label_known_ms"], unit="ms", utc=True)
            card = frame["card"].where(frame["card"].notna(), "customer:" + frame["customer_id"])
            out = pd.DataFrame(
                {
                    "payment_id": frame["payment_id"],
                    "customer_id": frame["customer_id"],
                    "card": card,
                    "authorized_at": at,
                    "day": at.dt.date,
                }
            )
            out = pd.concat([out, computed], axis=1)
            out["label"] = frame["fraud"].astype("int32")
            out["label_known_at"] = known
            yield out

    return inputs.mapInPandas(batches, output_schema())

"""A history file's offline features: every row accounted for, bad input routed with its
reason, a bad mapping stopped in one line, and features checked by hand on a tiny history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
import yaml
from deltalake import DeltaTable

from lakehouse.features.history import build_history, mapping_for
from paystream.errors import ConfigurationError

pytestmark = pytest.mark.integration

HEADER = "id,at,customer,merchant,amount,currency,card,device,country,fraud"
MAPPING = {
    "transaction_id": "id",
    "timestamp": "at",
    "timestamp_format": "%Y-%m-%d %H:%M:%S",
    "customer": "customer",
    "merchant": "merchant",
    "amount": "amount",
    "currency": "currency",
    "card": "card",
    "device": "device",
    "country": "country",
    "fraud": "fraud",
}
T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)


def _at(delta: timedelta) -> str:
    return (T0 + delta).strftime("%Y-%m-%d %H:%M:%S")


# A: three payments on one card; the first is fraud (charged back 7 days and 1 s later).
# B: shares A's device an hour later, then pays at A's merchant 7 days and 12 hours on.
ROWS = [
    f"a1,{_at(timedelta())},A,M,10.00,HKD,k1,d1,Hong Kong,1",
    f"a2,{_at(timedelta(seconds=30))},A,M,20.00,HKD,k1,d1,Hong Kong,0",
    f"b1,{_at(timedelta(hours=1))},B,N,5.00,HKD,k2,d1,Hong Kong,0",
    f"a3,{_at(timedelta(hours=2))},A,N,30.00,HKD,k1,d2,United Kingdom,0",
    f"b2,{_at(timedelta(days=7, hours=12))},B,M,7.00,HKD,k2,d1,Hong Kong,0",
]
BAD = [
    f"x1,{_at(timedelta(hours=3))},A,M,12.345,HKD,k1,d1,Hong Kong,0",  # three decimals
    "x2,not a time,A,M,1.00,HKD,k1,d1,Hong Kong,0",
    f"x3,{_at(timedelta(hours=3))},A,M,1.00,XXY,k1,d1,Hong Kong,0",
    f"a2,{_at(timedelta(hours=4))},A,M,99.00,HKD,k1,d1,Hong Kong,0",  # a second a2
    # A device id shaped like a card number: the live stream refuses it, so must the lake.
    f"x4,{_at(timedelta(hours=3))},A,M,1.00,HKD,k1,dev-4111111111111111,Hong Kong,0",
]


def _history(folder: Path, rows: list[str]) -> Path:
    path = folder / "bank.csv"
    path.write_text("\n".join([HEADER, *rows]) + "\n")
    (folder / "bank.csv.mapping.yaml").write_text(yaml.safe_dump(MAPPING))
    return path


@pytest.fixture(scope="module")
def built(spark, settings, tmp_path_factory):
    folder = tmp_path_factory.mktemp("history")
    lake = settings.lakehouse.model_copy(update={"root": folder / "lake"})
    local = settings.model_copy(update={"lakehouse": lake})
    path = _history(folder, ROWS + BAD)
    summary, paths = build_history(local, path, mapping_for(path, None, {}), namespace="bank")
    frame = DeltaTable(paths.features).to_pandas().set_index("payment_id")
    return summary, paths, frame


def test_every_row_is_a_payment_or_routed_with_its_reason(built):
    summary, paths, frame = built
    assert summary.accounted and summary.rows == len(ROWS) + len(BAD)
    assert summary.transactions == len(ROWS) and summary.fraud == 1
    assert dict(summary.routed) == {
        "bad_amount": 1,
        "bad_timestamp": 1,
        "bad_currency": 1,
        "card_number": 1,
        "duplicate_transaction_id": 1,
    }
    routed = DeltaTable(paths.routed).to_pandas()
    assert sorted(routed["reason"]) == [
        "bad_amount",
        "bad_currency",
        "bad_timestamp",
        "card_number",
        "duplicate_transaction_id",
    ]
    assert not routed["detail"].str.contains("4111111111111111").any()
    # The first row of a duplicated id is the payment.
    assert frame.loc["a2", "amount_major"] == 20.0


def test_windows_sightings_and_earlier_payments_are_point_in_time(built):
    _, _, f = built
    a3 = f.loc["a3"]
    assert (a3.customer_count_1m, a3.customer_count_1h, a3.customer_count_24h) == (1, 1, 3)
    assert (a3.card_count_24h, a3.customer_prior_payments) == (3, 2)
    assert a3.amount_over_customer_mean == pytest.approx(30 / 15)
    # d2 is new, A's earliest device is older: new; a new country abroad (home Hong Kong).
    assert (a3.new_device, a3.new_country, a3.foreign_country) == (1.0, 1.0, 1.0)
    first = f.loc["a1"]
    assert first.customer_prior_payments == 0 and pd.isna(first.amount_over_customer_mean)
    # A customer's very first device is not "new": there is no past to compare with.
    assert pd.isna(first.new_device)


def test_graph_and_merchant_features_count_only_what_was_known_then(built):
    _, _, f = built
    # b1: d1's users by then are A (first use t0) and B itself.
    assert f.loc["b1", "device_customers"] == 2
    assert f.loc["b1", "fraud_linked_customers"] == 0  # A's chargeback comes 7 days later
    b2 = f.loc["b2"]
    # By b2, A is flagged (t0 + 7 d + 1 s) and shares d1 with B: one flagged neighbour.
    assert b2.fraud_linked_customers == 1
    # M's payments authorized in (t - 7 d - 1 d, t - 7 d]: a1 and a2, a1 known fraud by t.
    assert b2.merchant_fraud_rate_1d == pytest.approx(1 / 2)
    # M's refunds over its payments of the last 30 days (a1's chargeback; a1, a2, b2).
    assert b2.merchant_refund_rate == pytest.approx(1 / 3)
    assert f.loc["a1", "label"] == 1 and f.loc["b2", "label"] == 0


def test_a_mapping_naming_a_missing_column_stops_in_one_line_before_writing(settings, tmp_path):
    path = _history(tmp_path, ROWS)
    lake = settings.lakehouse.model_copy(update={"root": tmp_path / "lake"})
    local = settings.model_copy(update={"lakehouse": lake})
    mapping = mapping_for(path, None, {"device": "DEVICE_ID"})
    with pytest.raises(ConfigurationError, match="has no column 'DEVICE_ID'") as raised:
        build_history(local, path, mapping, namespace="broken")
    assert "\n" not in str(raised.value)
    assert not (tmp_path / "lake" / "history" / "broken" / "fraud_features").exists()

"""Foreign transaction rows through a column mapping: amounts, times, cards, bad rows."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from paystream.datasets.transactions import (
    BadRow,
    ColumnMapping,
    RowReader,
    Transaction,
    card_fingerprint,
    file_rows,
    load_mapping,
    read_transactions,
)
from paystream.errors import ConfigurationError

KEY = b"k" * 32
MAPPING = ColumnMapping(
    transaction_id="tx",
    timestamp="ts",
    customer="cust",
    merchant="term",
    amount="amt",
    currency_code="EUR",
    card="card",
    fraud="label",
)


def _row(**cells: object) -> dict[str, object]:
    row: dict[str, object] = {
        "tx": "t1",
        "ts": "2024-03-01 10:00:00",
        "cust": "c1",
        "term": "m1",
        "amt": "12.50",
        "card": "card-17",
        "label": "0",
    }
    row.update(cells)
    return row


def _read(row: dict[str, object], mapping: ColumnMapping = MAPPING) -> Transaction | BadRow:
    return next(read_transactions(iter([row]), RowReader(mapping, KEY)))


def test_decimal_text_becomes_integer_minor_units_exactly() -> None:
    t = _read(_row(amt="0.10"))
    assert isinstance(t, Transaction)
    assert (t.amount_minor, t.currency) == (10, "EUR")
    # 0.1 + 0.2 style float error cannot happen: the cell is parsed as text.
    big = _read(_row(amt="98765432.99"))
    assert isinstance(big, Transaction) and big.amount_minor == 9_876_543_299


def test_minor_unit_amounts_and_currency_columns_follow_the_currency() -> None:
    mapping = MAPPING.model_copy(update={"amount_unit": "minor", "currency_code": None})
    mapping = ColumnMapping.model_validate({**mapping.model_dump(), "currency": "cur"})
    t = _read(_row(amt="1250", cur="jpy"), mapping)
    assert isinstance(t, Transaction) and (t.amount_minor, t.currency) == (1250, "JPY")


def test_a_parquet_double_reads_back_as_the_decimal_its_writer_meant() -> None:
    t = _read(_row(amt=0.1 + 0.2))  # 0.30000000000000004: more decimals than EUR has
    assert isinstance(t, BadRow) and t.reason == "bad_amount"
    t = _read(_row(amt=19.99))
    assert isinstance(t, Transaction) and t.amount_minor == 1999


@pytest.mark.parametrize(
    ("cells", "reason"),
    [
        ({"amt": "12.505"}, "bad_amount"),
        ({"amt": "-3.00"}, "bad_amount"),
        ({"amt": "abc"}, "bad_amount"),
        ({"amt": ""}, "missing_field"),
        ({"ts": "yesterday"}, "bad_timestamp"),
        ({"cust": "two words"}, "bad_identifier"),
        ({"tx": None}, "missing_field"),
    ],
)
def test_a_bad_cell_routes_the_row_with_its_reason(cells: dict[str, object], reason: str) -> None:
    bad = _read(_row(**cells))
    assert isinstance(bad, BadRow) and bad.reason == reason and bad.row == 1


def test_an_unknown_currency_is_routed_not_fatal() -> None:
    mapping = ColumnMapping.model_validate(
        {**MAPPING.model_dump(), "currency_code": None, "currency": "cur"}
    )
    bad = _read(_row(cur="XYZ"), mapping)
    assert isinstance(bad, BadRow) and bad.reason == "bad_currency"


def test_naive_times_take_the_mapping_zone_and_become_utc() -> None:
    mapping = MAPPING.model_copy(update={"timezone": "Asia/Hong_Kong"})
    t = _read(_row(ts="2024-03-01 18:00:00"), mapping)
    assert isinstance(t, Transaction)
    assert t.at == datetime(2024, 3, 1, 10, 0, tzinfo=UTC)
    epoch = MAPPING.model_copy(update={"timestamp_format": "epoch_ms"})
    t = _read(_row(ts="1709287200000"), epoch)
    assert isinstance(t, Transaction) and t.at == datetime(2024, 3, 1, 10, 0, tzinfo=UTC)


def test_fraud_labels_accept_the_usual_spellings() -> None:
    for value, fraud in (("1", True), ("TRUE", True), ("fraud", True), ("0", False), ("", False)):
        t = _read(_row(label=value))
        assert isinstance(t, Transaction) and t.fraud is fraud


def test_card_numbers_and_ids_become_keyed_fingerprints_never_kept() -> None:
    pan = "4111 1111 1111 1111"
    fingerprint = card_fingerprint(pan, KEY)
    assert fingerprint == card_fingerprint("4111-1111-1111-1111", KEY)  # same card
    assert fingerprint != card_fingerprint(pan, b"x" * 32)  # keyed: not a plain hash
    assert "4111" not in fingerprint and len(fingerprint) == 32
    token = "ab" * 16
    assert card_fingerprint(token.upper(), None) == token  # a token is kept
    with pytest.raises(ConfigurationError, match="PAYSTREAM_RISK__CARD_KEY"):
        card_fingerprint("card-17", None)


def test_the_mapping_needs_exactly_one_currency_source() -> None:
    with pytest.raises(ConfigurationError, match="exactly one of currency"):
        load_mapping(None, {**MAPPING.model_dump(), "currency": "cur"})
    with pytest.raises(ConfigurationError, match="transaction_id"):
        load_mapping(None, {"timestamp": "ts"})


def test_yaml_mapping_with_options_on_top(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text("transaction_id: tx\ntimestamp: ts\ncustomer: cust\nmerchant: term\n")
    mapping = load_mapping(path, {"amount": "amt", "currency_code": "GBP", "card": None})
    assert (mapping.amount, mapping.currency_code, mapping.card) == ("amt", "GBP", None)


def test_csv_gz_and_parquet_give_the_same_rows(tmp_path: Path) -> None:
    text = "tx,ts,cust,term,amt,card,label\nt1,2024-03-01T10:00:00Z,c1,m1,12.50,card-1,1\n"
    gz = tmp_path / "a.csv.gz"
    gz.write_bytes(gzip.compress(text.encode()))
    parquet = tmp_path / "a.parquet"
    table = pa.table(
        {
            "tx": ["t1"],
            "ts": [datetime(2024, 3, 1, 10, tzinfo=UTC)],
            "cust": ["c1"],
            "term": ["m1"],
            "amt": pa.array([Decimal("12.50")], pa.decimal128(10, 2)),
            "card": ["card-1"],
            "label": [1],
        }
    )
    pq.write_table(table, parquet)
    reader = RowReader(MAPPING, KEY)
    from_csv = list(read_transactions(file_rows(gz, MAPPING), reader))
    from_parquet = list(read_transactions(file_rows(parquet, MAPPING), reader))
    assert from_csv == from_parquet
    assert isinstance(from_csv[0], Transaction) and from_csv[0].amount_minor == 1250


def test_a_missing_column_stops_with_the_file_s_columns(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text("tx,when\n1,2\n")
    with pytest.raises(ConfigurationError, match="no column 'ts'.*its columns: tx, when"):
        list(file_rows(path, MAPPING))


def test_prefixed_ids_keep_sources_apart() -> None:
    t = _read(_row(), MAPPING.model_copy(update={"id_prefix": "bank-a:"}))
    assert isinstance(t, Transaction)
    assert (t.transaction_id, t.customer_id, t.merchant_id) == (
        "bank-a:t1",
        "bank-a:c1",
        "bank-a:m1",
    )
    assert t.at - datetime(2024, 3, 1, 10, tzinfo=UTC) == timedelta(0)

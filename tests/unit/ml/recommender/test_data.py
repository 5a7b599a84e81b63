"""Loading and checking interactions tables; the temporal split."""

import gzip
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from deltalake import write_deltalake

from ml.recommender.data import (
    InteractionsError,
    Matrix,
    load_interactions,
    temporal_split,
)
from ml.recommender.online_retail import online_retail_interactions

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def table(rows=None):
    rows = rows or [
        ("u1", "a", 2.0, T0),
        ("u1", "b", 1.0, T0 + timedelta(days=1)),
        ("u2", "a", 5.0, T0 + timedelta(days=2)),
    ]
    return pd.DataFrame(rows, columns=["user", "item", "weight", "timestamp"])


def test_csv_parquet_and_delta_load_to_the_same_frame(tmp_path):
    frame = table()
    frame.to_csv(tmp_path / "i.csv", index=False)
    frame.to_parquet(tmp_path / "i.parquet", index=False)
    write_deltalake(str(tmp_path / "delta"), frame)
    loaded = [load_interactions(tmp_path / name) for name in ("i.csv", "i.parquet", "delta")]
    for other in loaded[1:]:
        pd.testing.assert_frame_equal(loaded[0].frame, other.frame)
    assert list(loaded[0].frame["weight"]) == [2.0, 1.0, 5.0]
    assert str(loaded[0].frame["timestamp"].dtype) == "datetime64[us, UTC]"


def test_delta_data_version_is_the_table_version(tmp_path):
    path = tmp_path / "interactions_customer_product"
    write_deltalake(str(path), table())
    assert load_interactions(path).version == "delta:interactions_customer_product@v0"
    write_deltalake(str(path), table(), mode="append")
    assert load_interactions(path).version == "delta:interactions_customer_product@v1"


def test_file_data_version_follows_content(tmp_path):
    table().to_csv(tmp_path / "a.csv", index=False)
    table().to_csv(tmp_path / "b.csv", index=False)
    table(rows=[("u9", "z", 1.0, T0)]).to_csv(tmp_path / "c.csv", index=False)
    versions = [load_interactions(tmp_path / f"{n}.csv").version for n in "abc"]
    assert versions[0] == versions[1] != versions[2]


def test_gzipped_csv_with_extra_columns_loads(tmp_path):
    path = tmp_path / "i.csv.gz"
    with gzip.open(path, "wt") as handle:
        handle.write("user,item,weight,timestamp,orders\nu1,a,3,2024-01-01 10:00:00,1\n")
    loaded = load_interactions(path).frame
    assert loaded.to_dict("records") == [
        {
            "user": "u1",
            "item": "a",
            "weight": 3.0,
            "timestamp": pd.Timestamp("2024-01-01 10:00", tz="UTC"),
        }
    ]


def test_duplicate_pairs_sum_weights_and_keep_the_latest_time(tmp_path):
    rows = [("u1", "a", 2.0, T0), ("u1", "a", 3.0, T0 + timedelta(days=3)), ("u1", "b", 0.0, T0)]
    table(rows).to_parquet(tmp_path / "i.parquet")
    loaded = load_interactions(tmp_path / "i.parquet").frame
    assert loaded.to_dict("records") == [
        {
            "user": "u1",
            "item": "a",
            "weight": 5.0,
            "timestamp": pd.Timestamp(T0 + timedelta(days=3)),
        }
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("user,item,timestamp\nu1,a,2024-01-01\n", "lacks column.*weight"),
        (
            "user,item,weight,timestamp\nu1,a,lots,2024-01-01\n",
            "weight must be numeric; row 1 has 'lots'",
        ),
        (
            "user,item,weight,timestamp\nu1,a,1,2024-01-01\nu2,b,2,yesterday\n",
            "timestamp must be a date-time; row 2",
        ),
        ("user,item,weight,timestamp\nu1,a,-1,2024-01-01\n", "weight must be >= 0"),
        ("user,item,weight,timestamp\n,a,1,2024-01-01\n", "empty user in row 1"),
        ("user,item,weight,timestamp\n", "is empty"),
    ],
)
def test_malformed_csv_gets_a_clear_error(tmp_path, text, message):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(InteractionsError, match=message):
        load_interactions(path)


def test_parquet_with_a_missing_column_gets_a_clear_error(tmp_path):
    table().drop(columns=["timestamp"]).to_parquet(tmp_path / "i.parquet")
    with pytest.raises(InteractionsError, match="lacks column.*timestamp"):
        load_interactions(tmp_path / "i.parquet")


def test_missing_path_and_unknown_format_are_named(tmp_path):
    with pytest.raises(InteractionsError, match="does not exist"):
        load_interactions(tmp_path / "nope.parquet")
    (tmp_path / "i.json").write_text("{}")
    with pytest.raises(InteractionsError, match="unknown interactions format"):
        load_interactions(tmp_path / "i.json")


def test_temporal_split_holds_out_the_last_weeks_for_users_seen_before():
    rows = [
        ("u1", "a", 1.0, T0),
        ("u1", "b", 1.0, T0 + timedelta(weeks=9)),
        ("u2", "c", 1.0, T0 + timedelta(weeks=1)),
        ("u3", "a", 1.0, T0 + timedelta(weeks=9, days=1)),  # new in the test window
    ]
    split = temporal_split(table(rows), test_weeks=2)
    assert sorted(split.train["item"]) == ["a", "c"]
    assert split.truth() == {"u1": {"b"}}


def test_a_split_without_test_users_is_refused():
    with pytest.raises(InteractionsError, match="choose another --test-weeks"):
        temporal_split(table(), test_weeks=52)


def test_matrix_indexes_users_and_items_in_sorted_order():
    matrix = Matrix.from_frame(table())
    assert list(matrix.users) == ["u1", "u2"] and list(matrix.items) == ["a", "b"]
    assert matrix.weights.toarray().tolist() == [[2.0, 1.0], [5.0, 0.0]]
    assert list(matrix.seen("u1")) == [0, 1] and list(matrix.seen("nobody")) == []


def test_online_retail_interactions_skip_guests_credit_notes_and_non_products(tmp_path):
    source = tmp_path / "retail.csv.gz"
    lines = [
        "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country",
        "1,85123A,HEART,6,2011-01-10 09:00:00,2.55,17850,United Kingdom",
        "2,85123A,HEART,4,2011-06-10 10:00:00,2.55,17850,United Kingdom",  # BST: 09:00 UTC
        "2,POST,POSTAGE,1,2011-06-10 10:00:00,18.00,17850,United Kingdom",
        "C3,85123A,HEART,-2,2011-06-11 10:00:00,2.55,17850,United Kingdom",
        "4,22423,CAKE STAND,1,2011-02-01 12:00:00,12.75,,United Kingdom",
        "5,15056 BL,UMBRELLA,2,2011-02-01 12:00:00,5.95,12346,France",
    ]
    with gzip.open(source, "wt") as handle:
        handle.write("\n".join(lines) + "\n")
    frame = online_retail_interactions(source)
    assert frame.to_dict("records") == [
        {
            "user": "cust-12346",
            "item": "15056_BL",
            "weight": 2.0,
            "timestamp": pd.Timestamp("2011-02-01 12:00", tz="UTC"),
            "orders": 1,
            "merchant_id": "online-retail-uk",
        },
        {
            "user": "cust-17850",
            "item": "85123A",
            "weight": 10.0,
            "timestamp": pd.Timestamp("2011-06-10 09:00", tz="UTC"),
            "orders": 2,
            "merchant_id": "online-retail-uk",
        },
    ]


def test_a_merchant_column_scopes_users_and_items_so_merchants_never_mix(tmp_path):
    from ml.recommender.data import ScopeMask, unscoped

    path = tmp_path / "scoped.csv"
    path.write_text(
        "user,item,weight,timestamp,merchant_id\n"
        "c1,mug,1,2026-01-01T00:00:00Z,m1\n"
        "c1,mug,1,2026-01-01T00:00:00Z,m2\n"
        "c2,tea,1,2026-01-02T00:00:00Z,m2\n"
    )
    frame = load_interactions(path).frame
    # The same customer at two merchants is two users; the same SKU is two items.
    assert sorted(frame["user"]) == ["m1|c1", "m2|c1", "m2|c2"]
    assert sorted(set(frame["item"])) == ["m1|mug", "m2|mug", "m2|tea"]
    assert unscoped("m2|c1") == ("m2", "c1") and unscoped("c1") == (None, "c1")
    mask = ScopeMask(np.array(["m1|mug", "m2|mug", "m2|tea"], dtype=object))
    assert list(mask.outside("m1|c1")) == [1, 2]
    assert mask.exclude("c9", None) is not None  # an unscoped user sees no scoped item


def test_an_id_containing_the_scope_separator_is_refused(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("user,item,weight,timestamp,merchant_id\nc|1,mug,1,2026-01-01,m1\n")
    with pytest.raises(InteractionsError, match="may not contain"):
        load_interactions(path)

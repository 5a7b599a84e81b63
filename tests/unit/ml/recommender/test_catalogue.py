"""Names and prices joined onto served items: money stays integer minor units, unknown
products still serve (null fields), and a merchant's catalogue never names another's."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import write_deltalake

from harness.sample_gold import SampleSpec, catalogue_table
from ml.recommender.catalogue import (
    Catalogue,
    CatalogueError,
    Product,
    gold_catalogue_path,
    load_catalogue,
    products,
    unit_price,
)
from paystream.contracts.gold import arrow_schema
from paystream.contracts.served import Recommendations, RecommendedItem
from paystream.money import Money

RETAIL = "online-retail-uk"


def _item(item_id: str) -> RecommendedItem:
    return RecommendedItem(item_id=item_id, score=0.5, source="als")


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        (295, "GBP", Money(amount_minor=295, currency="GBP")),
        (1200, "JPY", Money(amount_minor=1200, currency="JPY")),
        (0, "GBP", Money(amount_minor=0, currency="GBP")),
    ],
)
def test_an_integer_price_with_a_known_currency_becomes_money(amount, currency, expected):
    assert unit_price(amount, currency) == expected


@pytest.mark.parametrize(
    ("amount", "currency"),
    [
        (None, "GBP"),  # no price known
        (295, None),  # no currency: an amount alone is not money
        (2.95, "GBP"),  # a float is never taken for minor units
        (float("nan"), "GBP"),  # pandas' missing value
        (True, "GBP"),
        (-1, "GBP"),
        (295, "XXQ"),  # not ISO 4217
        (295, "gbp"),
    ],
)
def test_a_missing_or_invalid_price_is_null_never_guessed(amount, currency):
    assert unit_price(amount, currency) is None


def test_rows_become_products_by_merchant_and_item():
    found = products(
        [
            {"merchant_id": RETAIL, "item": "85123A", "name": " WHITE HANGING HEART ",
             "unit_price_minor": 295, "currency": "GBP"},
            {"merchant_id": RETAIL, "item": "85123A", "name": "a later duplicate",
             "unit_price_minor": 1, "currency": "GBP"},
            {"merchant_id": RETAIL, "item": "22423", "name": "", "unit_price_minor": None,
             "currency": "GBP"},
            {"merchant_id": None, "item": "X", "name": "no merchant"},
            {"merchant_id": RETAIL, "item": "", "name": "no item"},
        ]
    )  # fmt: skip
    assert found == {
        (RETAIL, "85123A"): Product("WHITE HANGING HEART", Money(amount_minor=295, currency="GBP")),
        (RETAIL, "22423"): Product(None, None),
    }


def test_describe_names_and_prices_known_items_and_leaves_unknown_ones_null():
    catalogue = Catalogue(
        {
            (RETAIL, "85123A"): Product(
                "WHITE HANGING HEART", Money(amount_minor=295, currency="GBP")
            )
        },
        "test",
    )
    known = catalogue.describe(RETAIL, _item("85123A"))
    assert (known.item_id, known.score, known.source) == ("85123A", 0.5, "als")
    assert known.name == "WHITE HANGING HEART"
    assert known.unit_price == Money(amount_minor=295, currency="GBP")
    unknown = catalogue.describe(RETAIL, _item("NEW1"))
    assert unknown.name is None and unknown.unit_price is None
    # The same stock code at another merchant is another merchant's product.
    elsewhere = catalogue.describe("another-merchant", _item("85123A"))
    assert elsewhere.name is None and elsewhere.unit_price is None


def test_served_json_carries_integer_minor_units_and_nulls():
    catalogue = Catalogue(
        {(RETAIL, "85123A"): Product("HEART", Money(amount_minor=295, currency="GBP"))}, "test"
    )
    stored = Recommendations(
        customer_id="cust-1",
        items=[catalogue.describe(RETAIL, _item(i)) for i in ("85123A", "NEW1")],
        model_name="m",
        model_version="1",
        generated_at=datetime(2026, 1, 1, tzinfo=UTC),
    ).model_dump_json()
    items = json.loads(stored)["items"]
    assert items[0]["name"] == "HEART"
    assert items[0]["unit_price"] == {"amount_minor": 295, "currency": "GBP"}
    assert isinstance(items[0]["unit_price"]["amount_minor"], int)
    assert items[1]["name"] is None and items[1]["unit_price"] is None
    assert Recommendations.model_validate_json(stored).items[0].unit_price == Money(
        amount_minor=295, currency="GBP"
    )


def test_a_list_stored_before_items_had_names_still_reads():
    old = '{"customer_id": null, "items": [{"item_id": "A", "score": 1.0, "source": "als"}], '
    old += '"model_name": "m", "model_version": "1", "generated_at": "2026-01-01T00:00:00Z"}'
    item = Recommendations.model_validate_json(old).items[0]
    assert item.name is None and item.unit_price is None


def test_the_gold_catalogue_table_loads_through_delta_rs(tmp_path):
    spec = SampleSpec(merchants=["M-alpha", "M-beta"], customers=["C0"], start=date(2011, 1, 1))
    path = gold_catalogue_path(tmp_path)
    write_deltalake(str(path), catalogue_table(spec))
    catalogue = load_catalogue(path)
    assert len(catalogue) == 2 * 8
    beta = catalogue.describe("M-beta", _item("SKU0001"))
    assert beta.name == "REGENCY CAKESTAND 3 TIER 1"
    assert beta.unit_price == Money(amount_minor=185, currency="GBP")
    assert "16 products" in catalogue.note()


def test_a_missing_gold_catalogue_is_empty_but_a_named_one_must_exist(tmp_path):
    missing = gold_catalogue_path(tmp_path)
    empty = load_catalogue(missing, required=False)
    assert len(empty) == 0 and "null" in empty.note()
    with pytest.raises(CatalogueError, match="does not exist"):
        load_catalogue(missing)


def test_a_catalogue_without_a_price_column_is_refused_by_name(tmp_path):
    schema = arrow_schema("product_catalogue")
    table = pa.Table.from_pylist([], schema=schema).drop_columns(["unit_price_minor"])
    path = tmp_path / "catalogue.parquet"
    pq.write_table(table, path)
    with pytest.raises(CatalogueError, match="unit_price_minor"):
        load_catalogue(path)

"""`paystream train recommender`'s flow end to end: MLflow, promotion and Redis serving, with
every served item named and priced from gold's product catalogue."""

from decimal import Decimal

import pytest
import redis

from ml.recommender.als import ALSParams
from ml.recommender.data import unscoped
from ml.recommender.pipeline import TrainConfig, run
from ml.recommender.tracking import load_served_model
from paystream.contracts.served import Recommendations, ServedKeys
from paystream.money import Money
from paystream.stores.mlflow import CHAMPION, alias_version

EXPERIMENT = "paystream-recommender-it"
RETAIL = "online-retail-uk"
# Two customers only the graph knows (not in the interactions): they get graph lists.
# Small enough to fit in seconds, still well above popularity on this sample.
FAST = ALSParams(rank=16, max_iter=5)
NEW_IN_GRAPH = {"cust-new1": ["85123A", "22423"], "cust-new2": ["85123A", "84879"]}


def config(isolated, interactions, **overrides):
    return TrainConfig(
        interactions=interactions,
        promote=True,
        serve=True,
        model_name=f"{isolated}-reco",
        experiment=EXPERIMENT,
        namespace=isolated,
        **overrides,
    )


@pytest.fixture(scope="module")
def first(settings, spark, retail_parquet, isolated, write_orders, retail_lakehouse):
    write_orders(f"{isolated}:", NEW_IN_GRAPH)
    # Gold (its product catalogue) comes from the lakehouse built from the replayed file.
    lake = settings.lakehouse.model_copy(update={"root": retail_lakehouse})
    with_gold = settings.model_copy(update={"lakehouse": lake})
    return run(with_gold, config(isolated, retail_parquet, als=FAST), spark=spark)


def _source_products():
    """Each product's name and latest unit price read straight from the Online Retail file, as
    someone holding only the file would: the description its sale lines use most (ties by
    name), and the price of its last sale line (by invoice time, invoice, line), in pence."""
    import pandas as pd

    from ml.recommender.online_retail import SOURCE
    from paystream.datasets.online_retail import SERVICE_CODES, SERVICE_PREFIXES

    raw = pd.read_csv(SOURCE, dtype=str, keep_default_na=False, encoding_errors="replace")
    # Lines with bytes that are not UTF-8 are never replayed.
    raw = raw[~raw.apply(lambda column: column.str.contains("\ufffd")).any(axis=1)]
    code = raw["StockCode"].str.strip()
    price = raw["UnitPrice"].map(Decimal)
    sales = raw[
        ~raw["InvoiceNo"].str.startswith("C")
        & (raw["Quantity"].astype(int) > 0)
        & (price > 0)
        & (price * 100 == (price * 100).map(int))
        & ~code.isin(SERVICE_CODES)
        & ~code.str.startswith(SERVICE_PREFIXES)
    ].copy()
    sales["item"] = sales["StockCode"].str.strip().str.replace(" ", "_")
    sales["name"] = sales["Description"].str.strip().str[:256]
    sales["pence"] = sales["UnitPrice"].map(lambda p: int(Decimal(p) * 100))
    sales["at"] = pd.to_datetime(sales["InvoiceDate"])
    sales["placed"] = sales.groupby("InvoiceNo")["at"].transform("min")
    sales["row"] = range(len(sales))
    counts = sales.groupby(["item", "name"]).size().reset_index(name="uses")
    counts = counts.sort_values(["item", "uses", "name"], ascending=[True, False, True])
    names = counts.drop_duplicates("item").set_index("item")["name"]
    last = sales.sort_values(["placed", "InvoiceNo", "row"]).drop_duplicates("item", keep="last")
    return names.to_dict(), last.set_index("item")["pence"].to_dict()


@pytest.fixture(scope="module")
def served(settings, isolated):
    client = redis.Redis.from_url(settings.redis.url.get_secret_value())
    keys = ServedKeys(isolated)

    def read(customer):
        raw = client.get(
            keys.popular(RETAIL) if customer is None else keys.recommendations(customer, RETAIL)
        )
        return None if raw is None else Recommendations.model_validate_json(raw)

    yield read
    client.close()


def test_the_first_model_is_registered_promoted_and_beats_popularity(first, settings, isolated):
    assert first.promotion is not None and first.promotion.promoted
    assert alias_version(settings.mlflow, f"{isolated}-reco", CHAMPION) == first.version
    metrics = first.evaluation.metrics
    assert set(metrics) == {"popularity", "cooccurrence", "als"}
    assert set(metrics["als"]) == {
        "precision_at_10",
        "recall_at_10",
        "ndcg_at_10",
        "map_at_10",
        "coverage",
    }
    assert first.evaluation.over_baseline("als") > 1.0
    assert first.data.version.startswith("sha256:")


def test_served_lists_carry_the_version_of_the_model_that_produced_them(
    first, settings, isolated, served
):
    assert first.served is not None and first.served.customers == first.data.users
    customers = sorted({unscoped(u)[1] for u in first.data.frame["user"]})[:5]
    for customer in customers:
        stored = served(customer)
        assert (stored.model_name, stored.model_version) == (f"{isolated}-reco", first.version)
        assert len(stored.items) == 10 and {i.source for i in stored.items} == {"als"}
    # The registered champion, loaded from MLflow, ranks exactly what was served.
    model = load_served_model(settings.mlflow, f"{isolated}-reco", CHAMPION)
    import pandas as pd

    predicted = model.predict(
        pd.DataFrame({"customer_id": customers, "merchant_id": [RETAIL] * len(customers)})
    )
    for customer in customers:
        expected = [i.item_id for i in served(customer).items]
        assert list(predicted[predicted["customer_id"] == customer]["item_id"]) == expected
    popular = served(None)
    assert popular.model_version == first.version and len(popular.items) == 10
    assert {i.source for i in popular.items} == {"popularity"}


def test_customers_only_the_graph_knows_get_graph_co_occurrence_lists(first, served):
    assert first.graph_served == 2
    new1, new2 = served("cust-new1"), served("cust-new2")
    assert [(i.item_id, i.source) for i in new1.items] == [("84879", "graph")]
    assert [(i.item_id, i.source) for i in new2.items] == [("22423", "graph")]
    assert new1.model_version == first.version


def test_served_items_carry_their_online_retail_names_and_latest_prices(first, served):
    names, pence = _source_products()
    customers = sorted({unscoped(u)[1] for u in first.data.frame["user"]})[:5]
    lists = [served(c) for c in customers] + [served(None)]
    lists += [served("cust-new1"), served("cust-new2")]  # graph co-occurrence lists
    items = [item for stored in lists for item in stored.items]
    assert len(items) == 10 * 6 + 2
    for item in items:
        assert item.name == names[item.item_id], item
        assert item.unit_price == Money(amount_minor=pence[item.item_id], currency="GBP"), item
    assert served(None).items[0].name  # the most popular product has a name, not only an id
    assert "names and prices of" in first.catalogue_note


def test_a_worse_model_from_a_csv_is_refused_and_the_champion_keeps_serving(
    first, settings, spark, retail_csv, isolated, served
):
    worse = ALSParams(rank=1, max_iter=1, reg_param=50.0, seed=FAST.seed)
    second = run(settings, config(isolated, retail_csv, als=worse), spark=spark)
    assert second.version != first.version
    # The CSV is a different file (another data version), so the champion's logged score is
    # not reused: its parameters are refitted on this split, which reproduces that score.
    assert "refitted" in second.champion_basis
    assert second.champion_value == pytest.approx(first.evaluation.metrics["als"]["ndcg_at_10"])
    assert second.evaluation.metrics["als"]["ndcg_at_10"] < second.champion_value
    assert second.promotion is not None and not second.promotion.promoted
    assert alias_version(settings.mlflow, f"{isolated}-reco", CHAMPION) == first.version
    assert second.served is None
    customer = sorted({unscoped(u)[1] for u in first.data.frame["user"]})[0]
    assert served(customer).model_version == first.version


def test_lists_are_per_merchant_and_another_merchant_gets_none_of_them(first, settings, isolated):
    # The retail merchant's customers have lists; the same customer ids at any other
    # merchant have neither a list nor a popular list learnt from the retail merchant's data.
    client = redis.Redis.from_url(settings.redis.url.get_secret_value())
    keys = ServedKeys(isolated)
    customer = sorted({unscoped(u)[1] for u in first.data.frame["user"]})[0]
    try:
        assert client.get(keys.recommendations(customer, RETAIL)) is not None
        assert client.get(keys.recommendations(customer, "another-merchant")) is None
        assert client.get(keys.popular("another-merchant")) is None
    finally:
        client.close()

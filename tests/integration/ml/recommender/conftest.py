"""Recommender fixtures: one Spark session, small Online Retail interactions, isolation."""

from __future__ import annotations

import pytest

from ml.recommender.online_retail import write_online_retail_interactions

# A few hundred customers keep each ALS fit to seconds while the split still has test users.
CUSTOMERS = 300


@pytest.fixture(scope="session")
def spark(stack, settings):
    """The session's Spark. build_spark is getOrCreate, so a Spark fixture elsewhere in the
    session shares this JVM; it is left running for them and ends with the process."""
    from paystream.stores.spark import build_spark

    session = build_spark(settings.lakehouse, "paystream-tests")
    session.sparkContext.setLogLevel("ERROR")
    return session


@pytest.fixture(scope="session")
def retail_parquet(tmp_path_factory):
    folder = tmp_path_factory.mktemp("reco")
    return write_online_retail_interactions(
        folder / "interactions.parquet", max_customers=CUSTOMERS
    )


@pytest.fixture(scope="session")
def retail_csv(retail_parquet):
    import pandas as pd

    target = retail_parquet.with_suffix(".csv")
    pd.read_parquet(retail_parquet).to_csv(target, index=False)
    return target


@pytest.fixture(scope="module")
def isolated(stack, settings):
    """A Redis/graph namespace and an MLflow model name private to one test module."""
    import uuid

    import redis
    from mlflow import MlflowClient

    from streams.sinks.graph import GremlinGraphSink

    tag = f"it{uuid.uuid4().hex[:10]}"
    yield tag
    client = redis.Redis.from_url(settings.redis.url.get_secret_value())
    keys = list(client.scan_iter(f"{tag}:*", count=1000))
    if keys:
        client.delete(*keys)
    graph = GremlinGraphSink(settings.gremlin, namespace=f"{tag}:")
    graph.purge_namespace()
    graph.close()
    mlflow = MlflowClient(tracking_uri=settings.mlflow.tracking_uri)
    for model in mlflow.search_registered_models(filter_string=f"name LIKE '{tag}%'"):
        mlflow.delete_registered_model(model.name)


def _order(customer: str, skus: list[str]):
    import uuid
    from datetime import UTC, datetime

    from paystream.contracts.events import OrderLine, OrderPlaced
    from paystream.money import Money

    lines = [
        OrderLine(line_no=n, sku=sku, quantity=1, unit_price_minor=250)
        for n, sku in enumerate(skus, start=1)
    ]
    return OrderPlaced(
        event_id=uuid.uuid4(),
        occurred_at=datetime(2024, 5, 1, 12, 0, tzinfo=UTC),
        order_id=f"o-{uuid.uuid4().hex[:8]}",
        customer_id=customer,
        merchant_id="online-retail-uk",
        lines=lines,
        total=Money(amount_minor=250 * len(lines), currency="GBP"),
    )


@pytest.fixture(scope="session")
def write_orders(stack, settings):
    """Write customers' orders into a graph namespace through the stream's graph sink."""
    from streams.sinks.graph import GremlinGraphSink
    from streams.sinks.port import Envelope, LedgerSnapshot

    def write(namespace: str, history: dict[str, list[str]]) -> None:
        sink = GremlinGraphSink(settings.gremlin, namespace=namespace)
        try:
            events = [_order(customer, skus) for customer, skus in history.items()]
            batch = [Envelope(e, "paystream.orders", 0, i) for i, e in enumerate(events)]
            sink.apply(batch, LedgerSnapshot())
        finally:
            sink.close()

    return write


def _silver_from_the_replay(root) -> None:
    """Silver ``orders`` and ``order_lines`` as the ledger holds them after the Online Retail
    replay: the replay's own events, in the columns the ledger sink writes."""
    from datetime import UTC

    import pyarrow as pa
    from deltalake import write_deltalake

    from ingest.online_retail.events import ReplaySummary, replay_events
    from ingest.online_retail.replay import DEFAULT_FILE
    from paystream.contracts.events import OrderPlaced

    orders: dict[str, list] = {c: [] for c in ("order_id", "merchant_id", "currency", "placed_at")}
    lines: dict[str, list] = {
        c: [] for c in ("order_id", "line_no", "sku", "description", "quantity", "unit_price_minor")
    }
    _, events, _ = replay_events(DEFAULT_FILE, ReplaySummary())
    for event in events:
        if not isinstance(event, OrderPlaced):
            continue
        orders["order_id"].append(event.order_id)
        orders["merchant_id"].append(event.merchant_id)
        orders["currency"].append(event.total.currency)
        orders["placed_at"].append(event.occurred_at.astimezone(UTC))
        for line in event.lines:
            lines["order_id"].append(event.order_id)
            lines["line_no"].append(line.line_no)
            lines["sku"].append(line.sku)
            lines["description"].append(line.description)
            lines["quantity"].append(line.quantity)
            lines["unit_price_minor"].append(line.unit_price_minor)
    orders_table = pa.table(orders).cast(
        pa.schema(
            [
                ("order_id", pa.string()),
                ("merchant_id", pa.string()),
                ("currency", pa.string()),
                ("placed_at", pa.timestamp("us", tz="UTC")),
            ]
        )
    )
    write_deltalake(f"{root}/silver/orders", orders_table)
    write_deltalake(f"{root}/silver/order_lines", pa.table(lines))


@pytest.fixture(scope="session")
def retail_lakehouse(spark, tmp_path_factory):
    """A lakehouse root whose gold ``product_catalogue`` the gold job built from the whole
    Online Retail file, as replayed into the ledger (silver written directly, no stream)."""
    from lakehouse.gold.build import Silver, conform, product_catalogue
    from lakehouse.paths import LakePaths
    from lakehouse.tables import overwrite

    root = tmp_path_factory.mktemp("retail-lake")
    _silver_from_the_replay(root)
    paths = LakePaths.of(root)
    frame = conform(product_catalogue(Silver(spark, paths)), "product_catalogue")
    overwrite(frame, paths.table("gold", "product_catalogue"))
    return root

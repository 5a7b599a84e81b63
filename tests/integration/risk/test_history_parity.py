"""Offline features of a history equal what the live risk agent logged for it, and the offline
build leaves the live stores untouched.

A simulated labelled history (with the Handbook's compromised merchants and account
takeovers, so the delayed merchant fraud rates and the fraud links are not all zero) is
imported twice through the real workers and agent of one world with several partitions: at
full speed, and paced as if live. The lakehouse then computes its offline features from the
file, once per copy (the import's id prefix), and every feature of every payment must agree
with the logged vector: counts exactly, means and rates within 1e-9.
"""

from __future__ import annotations

import asyncio

import pytest
import redis
from sqlalchemy import text

from harness.worlds import create_world
from ingest.simulator.foreign_csv import ForeignCsv, mapping_path
from ingest.simulator.generator import SimulationConfig, simulate
from ingest.transactions.importer import ImportPlan, run_import
from lakehouse.features.history import build_history, mapping_for
from lakehouse.features.parity import feature_parity
from paystream.contracts.fraud_features import FEATURES
from paystream.datasets.transactions import load_mapping
from paystream.stores.gremlin import gremlin_client
from paystream.stores.mysql import Database

pytestmark = pytest.mark.integration

CONFIG = SimulationConfig(
    seed=41,
    customers=90,
    merchants=8,
    days=22,
    compromised_merchants_per_day=0.3,
    account_takeovers_per_day=0.3,
    compromise_days=8,
)


@pytest.fixture(scope="module")
def history(stack, settings, tmp_path_factory):
    folder = tmp_path_factory.mktemp("history")
    path = folder / "bank.csv"
    with ForeignCsv(path) as out:
        for event, label in simulate(CONFIG):
            out.add(event, label)
    world = create_world(settings, folder / "logs", partitions=3)
    lake = settings.lakehouse.model_copy(update={"root": folder / "lake"})
    world.settings = world.settings.model_copy(update={"lakehouse": lake})
    world.start_worker()
    world.start_worker(kind="risk")
    key = settings.risk.require_card_key()

    def run(prefix: str, rate: float | None):
        mapping = load_mapping(mapping_path(path), {"id_prefix": prefix})
        return asyncio.run(
            run_import(world.settings.kafka, path, ImportPlan(mapping), key, rate=rate)
        )

    try:
        world.imports = {"fast-": run("fast-", None)}
        world.wait_all_caught_up(300)
        world.imports["paced-"] = run("paced-", 250.0)
        world.wait_all_caught_up(300)
        world.path = path
        yield world
    finally:
        world.destroy()


def _build(world, prefix: str):
    mapping = mapping_for(world.path, None, {"id_prefix": prefix})
    return build_history(world.settings, world.path, mapping, namespace=prefix.strip("-"))


def _live_state(world) -> dict[str, int]:
    """Row counts of the world's ledger, its Redis keys, and the graph's vertices."""
    database = Database(world.settings.mysql)
    try:
        with database.writer.connect() as conn:
            counts = {
                table: conn.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one()
                for table in ("payments", "refunds", "risk_decisions", "customers")
            }
    finally:
        database.dispose()
    client = redis.Redis.from_url(world.settings.redis.url.get_secret_value())
    counts["redis_keys"] = sum(1 for _ in client.scan_iter(f"{world.settings.streams.namespace}:*"))
    client.close()
    graph = gremlin_client(world.settings.gremlin)
    try:
        counts["graph_vertices"] = graph.submit("g.V().count()").all().result()[0]
    finally:
        graph.close()
    return counts


@pytest.fixture(scope="module")
def offline(history):
    before = _live_state(history)
    built = {prefix: _build(history, prefix) for prefix in ("fast-", "paced-")}
    history.untouched = (before, _live_state(history))
    return built


@pytest.mark.parametrize("prefix", ["paced-", "fast-"])
def test_offline_features_equal_the_vectors_the_agent_logged(history, offline, prefix):
    summary, paths = offline[prefix]
    assert summary.accounted and summary.transactions == history.imports[prefix].transactions
    report = feature_parity(paths.features, history.settings.mysql, prefix)
    assert report.compared == summary.transactions
    differing = {name: n for name, n in report.mismatches.items() if n}
    assert not differing, (differing, {n: report.examples[n] for n in differing})


def test_the_history_exercises_every_kind_of_feature(offline):
    from deltalake import DeltaTable

    _, paths = offline["fast-"]
    frame = DeltaTable(paths.features).to_pandas(columns=list(FEATURES))
    for name in (
        "merchant_fraud_rate_7d",
        "merchant_fraud_rate_30d",
        "fraud_linked_customers",
        "merchant_refund_rate",
        "new_device",
        "customer_count_30d",
        "amount_over_customer_mean",
    ):
        assert (frame[name] > 0).any(), f"{name} is never positive: parity would prove little"


def test_building_offline_features_writes_nothing_to_the_live_stores(history, offline):
    before, after = history.untouched
    assert before == after


def test_the_fraud_model_trains_on_a_historys_offline_features(history, offline):
    from ml.fraud.train import TrainConfig, run

    tag = history.settings.streams.namespace
    config = TrainConfig(model_name=f"paystream-fraud-{tag}", experiment=f"offline-{tag}")
    result = run(history.settings, config, offline="fast")
    assert result.data_version.startswith("offline-")
    assert result.evaluation.holdout_rows > 0 and result.evaluation.holdout_positives > 0

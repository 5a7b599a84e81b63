"""A risk team's own labelled CSV through the real system: import, ledger, risk agent,
backtest.

The file is the simulator's labelled payments in a foreign schema (other column names,
decimal amounts, opaque card ids, a 0/1 fraud column), plus rows no payment can come from.
It is imported twice into one world under two id prefixes: once at full speed and once
paced, as if live. The world has one partition, so both imports reach the agent in the
same event-time order and the event-time features must come out identical.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import text

from harness.worlds import create_world
from ingest.simulator.foreign_csv import ForeignCsv, mapping_path
from ingest.simulator.generator import SimulationConfig, simulate
from ingest.transactions.importer import ImportPlan, run_import
from paystream.bus.kafka import topic_counts
from paystream.contracts.fraud_features import DAY_WINDOWS
from paystream.datasets.transactions import load_mapping
from paystream.money import to_minor_units
from paystream.stores.mysql import Database

pytestmark = pytest.mark.integration

CONFIG = SimulationConfig(seed=23, customers=80, merchants=6, days=7)
BAD_ROWS = {
    "bad_amount": "bad-1,2026-01-06 10:00:00,c1,m1,12.345,GBP,card-x,dev-x,Hong Kong,0",
    "bad_timestamp": "bad-2,not a time,c1,m1,12.34,GBP,card-x,dev-x,Hong Kong,0",
    "bad_currency": "bad-3,2026-01-06 10:00:00,c1,m1,12.34,XXY,card-x,dev-x,Hong Kong,0",
}
#: Features the agent computes from event-time windows and first sightings it writes itself.
#: The rest read projected profiles and totals (the registered home country behind
#: new_country and foreign_country, lifetime totals), which a full-speed import can outrun,
#: or chargebacks on other customers' partitions (the merchants' fraud rates).
EVENT_TIME_FEATURES = (
    "amount_major",
    "customer_count_1m",
    "customer_count_1h",
    "customer_count_24h",
    "customer_amount_1h_major",
    "card_count_1m",
    "card_count_1h",
    "card_count_24h",
    "card_mean_amount_1h_major",
    "device_count_1h",
    "device_count_24h",
    "new_device",
    "device_customers",
    "card_customers",
    "customer_count_7d",
    "customer_count_30d",
    *(f"customer_mean_amount_{d}d_major" for d in DAY_WINDOWS),
    *(f"amount_over_customer_mean_{d}d" for d in DAY_WINDOWS),
)


@pytest.fixture(scope="module")
def imported(stack, settings, tmp_path_factory):
    folder = tmp_path_factory.mktemp("import")
    path = folder / "bank.csv"
    with ForeignCsv(path) as out:
        for event, label in simulate(CONFIG):
            out.add(event, label)
    with path.open("a") as f:
        f.write("\n".join(BAD_ROWS.values()) + "\n")
    world = create_world(settings, folder / "logs", partitions=1)
    world.start_worker()
    world.start_worker(kind="risk")
    key = settings.risk.require_card_key()

    def run(prefix: str, rate: float | None):
        mapping = load_mapping(mapping_path(path), {"id_prefix": prefix})
        return asyncio.run(
            run_import(world.settings.kafka, path, ImportPlan(mapping), key, rate=rate)
        )

    try:
        fast = run("fast-", None)
        world.wait_all_caught_up(240)
        paced = run("paced-", 150.0)
        world.wait_all_caught_up(240)
        again = run("fast-", None)  # the same file again: nothing may count twice
        world.wait_all_caught_up(240)
        world.path, world.summaries = path, (fast, paced, again)
        yield world
    finally:
        world.destroy()


def _query(world, sql: str) -> list[dict]:
    db = Database(world.settings.mysql)
    try:
        with db.writer.connect() as conn:
            return [dict(r) for r in conn.execute(text(sql)).mappings().all()]
    finally:
        db.dispose()


def test_every_row_is_sent_or_routed_with_its_reason_to_the_dead_letter_topic(imported):
    fast, paced, _ = imported.summaries
    assert fast.accounted and paced.accounted
    assert dict(fast.routed) == dict.fromkeys(BAD_ROWS, 1)
    assert fast.transactions == fast.rows - len(BAD_ROWS) > 100
    assert fast.fraud > 0 and fast.events["refund.issued"] == fast.fraud
    counts = asyncio.run(
        topic_counts(imported.settings.kafka, [imported.settings.kafka.topic("dlq")])
    )
    assert counts[imported.settings.kafka.topic("dlq")] == 3 * len(BAD_ROWS)


def test_the_ledger_holds_each_payment_once_to_the_minor_unit_with_chargebacks(imported):
    fast, paced, again = imported.summaries
    expected: Counter[str] = Counter()
    for line in imported.path.read_text().splitlines()[1:]:
        cells = line.split(",")
        if cells[0].startswith("bad-"):
            continue
        expected[cells[5]] += to_minor_units(Decimal(cells[4]), cells[5])
    rows = _query(
        imported,
        "SELECT currency, COUNT(*) AS n, SUM(amount_minor) AS total FROM payments "
        "WHERE payment_id LIKE 'fast-%%' AND captured_at IS NOT NULL GROUP BY currency",
    )
    assert {r["currency"]: int(r["total"]) for r in rows} == dict(expected)
    assert sum(r["n"] for r in rows) == fast.transactions == again.transactions
    refunds = _query(
        imported,
        "SELECT reason, COUNT(*) AS n FROM refunds GROUP BY reason",
    )
    assert {r["reason"]: r["n"] for r in refunds} == {"fraud_chargeback": fast.fraud + paced.fraud}


def test_a_history_replayed_fast_or_paced_gets_identical_event_time_features(imported):
    decisions = _query(imported, "SELECT payment_id, features FROM risk_decisions")
    by_id = {d["payment_id"]: json.loads(d["features"]) for d in decisions}
    fast_ids = [p for p in by_id if p.startswith("fast-")]
    assert len(fast_ids) == imported.summaries[0].transactions
    assert len(by_id) == 2 * len(fast_ids)  # the second fast import decided nothing again
    differing = []
    for payment in fast_ids:
        live = by_id["paced-" + payment.removeprefix("fast-")]
        fast = by_id[payment]
        for name in EVENT_TIME_FEATURES:
            if fast[name] != live[name]:
                differing.append((payment, name, fast[name], live[name]))
    assert not differing, (Counter(name for _, name, _, _ in differing), differing[:5])
    # The windows did fill up: this is not equality of empty features.
    assert max(by_id[p]["customer_count_24h"] for p in fast_ids) >= 3
    assert any(by_id[p]["customer_count_30d"] > by_id[p]["customer_count_24h"] for p in fast_ids)
    assert any(by_id[p]["new_device"] for p in fast_ids)


def test_the_three_commands_give_the_handbook_metrics_matching_a_hand_computation(imported):
    from sklearn.metrics import roc_auc_score

    from ml.fraud.backtest import Protocol, backtest
    from ml.fraud.dataset import load_dataset
    from ml.fraud.train import TrainConfig

    settings = imported.settings
    protocol = Protocol(train_days=3, delay_days=1, test_days=2, k=10)
    dataset = load_dataset(
        settings.mysql, settings.lakehouse, label_source="ledger", payment_prefix="fast-"
    )
    result = backtest(dataset, protocol, TrainConfig(max_iter=50, threads=1))
    (fold,) = result.folds
    # By hand, straight from the ledger: the rules' AUC on the test days' logged scores.
    rows = _query(
        imported,
        "SELECT d.rules_score, d.authorized_at, "
        "EXISTS (SELECT 1 FROM refunds r WHERE r.payment_id = d.payment_id "
        "AND r.reason = 'fraud_chargeback') AS fraud "
        "FROM risk_decisions d WHERE d.payment_id LIKE 'fast-%%'",
    )
    test = [
        r for r in rows if fold.fold.test_start <= r["authorized_at"].date() < fold.fold.test_end
    ]
    assert len(test) == fold.test_rows and sum(r["fraud"] for r in test) == fold.test_frauds > 0
    by_hand = roc_auc_score([r["fraud"] for r in test], [float(r["rules_score"]) for r in test])
    assert result.mean("rules", "auc_roc") == pytest.approx(by_hand, abs=1e-12)
    for detector in ("model", "logistic"):
        assert 0.5 < result.mean(detector, "auc_roc") <= 1.0, detector
        assert 0.0 < result.mean(detector, "average_precision") <= 1.0, detector
    # The command users run prints the same table and logs the run to MLflow.
    argv = [
        str(Path(sys.executable).parent / "paystream"),
        "backtest",
        "fraud",
        "--train-days=3",
        "--delay-days=1",
        "--test-days=2",
        "--k=10",
        "--payment-prefix=fast-",
        "--threads=1",
    ]
    done = subprocess.run(argv, env=imported.env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "AUC ROC" in done.stdout and "Card Precision@10" in done.stdout
    assert f"{by_hand:.3f}" in done.stdout
    assert "MLflow run" in done.stdout

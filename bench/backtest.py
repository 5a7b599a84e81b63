"""Benchmark: the Handbook's backtest on an imported labelled history, and the import's speed.

A risk team's path, with the commands' own code and default settings: ``paystream simulate
--foreign-csv`` writes a labelled history in a foreign schema; ``paystream import
transactions`` produces it to Kafka; the stream worker and one risk agent (as in ``make
demo``) decide every payment; ``paystream backtest fraud`` runs the Fraud Detection Handbook's
protocol (7-day train, 7-day delay, 7-day test, Card Precision@100) on the logged decisions.

Figures:

* ``risk.logged_backtest_auc_roc``, ``risk.logged_backtest_average_precision``,
  ``risk.logged_backtest_card_precision_at_100``: the model on the vectors the agent logged,
  with the rules-only score as reference (the logistic-regression baseline is in the notes).
  A run is one fit with its own seed; the data and the folds stay fixed. (The same metrics on
  offline features, ``risk.backtest_*``, come from ``bench.history``.)
* ``import.transactions_rows_per_s``: the import of the whole file into fresh topics,
  alternating with the Online Retail replay (reference, events/s) in the same run.

    python -m bench.backtest --runs 3
"""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from bench.lib.record import Figure, write
from bench.lib.replay_run import replay_once
from harness.worlds import StreamWorld, create_world
from ingest.simulator.foreign_csv import ForeignCsv, mapping_path
from ingest.simulator.generator import SimulationConfig, simulate
from ingest.transactions.importer import ImportPlan, ImportSummary, run_import
from ml.fraud.backtest import Backtest, Protocol, backtest
from ml.fraud.dataset import load_dataset
from ml.fraud.train import TrainConfig
from paystream.bus.kafka import drop_topics, ensure_topics
from paystream.datasets.transactions import load_mapping
from paystream.settings import REPO_ROOT, KafkaSettings, Settings, get_settings

console = Console()
FOLDER = REPO_ROOT / ".stack" / "bench" / "backtest"
SECTION = "Fraud backtest on an imported history"
RULES = "rules-only score, same folds"
#: Each backtest metric: its figure, its unit and its name in the notes.
METRICS = {
    "auc_roc": ("risk.logged_backtest_auc_roc", "AUC ROC", "AUC ROC"),
    "average_precision": ("risk.logged_backtest_average_precision", "AP", "Average Precision"),
    "card_precision_at_k": (
        "risk.logged_backtest_card_precision_at_100",
        "precision",
        "Card Precision@100",
    ),
}
PROTOCOL = Protocol(train_days=7, delay_days=7, test_days=7, k=100)


def history_config(seed: int, customers: int, days: int) -> SimulationConfig:
    """The simulated history: every fraud pattern, the Handbook's slow scenarios included.

    Fraud rates are raised so that each test day holds more than a hundred cards not yet
    known to be compromised, as Card Precision@100 needs to separate detectors at all.
    """
    return SimulationConfig(
        seed=seed,
        customers=customers,
        merchants=200,
        days=days,
        card_testing_per_day=8.0,
        velocity_attacks_per_day=8.0,
        new_device_frauds_per_day=25.0,
        fraud_rings=12,
        # The Handbook's 28-day skimmed terminals (a new one every other day) and 14-day
        # account takeovers.
        compromised_merchants_per_day=0.5,
        account_takeovers_per_day=5.0,
        compromise_days=28,
    )


def write_history(seed: int, customers: int, days: int) -> Path:
    """The simulated labelled payments as a foreign CSV (and its mapping file)."""
    FOLDER.mkdir(parents=True, exist_ok=True)
    config = history_config(seed, customers, days)
    path = FOLDER / f"history-{seed}-{customers}-{days}-m{config.merchants}.csv"
    if not path.exists():
        with ForeignCsv(path) as out:
            for event, label in simulate(config):
                out.add(event, label)
    return path


def _import(settings: Settings, kafka: KafkaSettings, path: Path) -> ImportSummary:
    """``paystream import transactions PATH --mapping PATH.mapping.yaml`` at default settings."""
    plan = ImportPlan(load_mapping(mapping_path(path), {}))
    return asyncio.run(run_import(kafka, path, plan, settings.risk.require_card_key()))


def import_once(settings: Settings, path: Path) -> tuple[float, ImportSummary]:
    """One import of the whole file into fresh topics; (rows/s, summary)."""
    kafka = settings.kafka.model_copy(update={"topic_prefix": f"bench{uuid.uuid4().hex[:8]}"})
    asyncio.run(ensure_topics(kafka))
    summary = _import(settings, kafka, path)
    asyncio.run(drop_topics(kafka))
    return summary.rows / summary.seconds, summary


def decide(settings: Settings, path: Path) -> tuple[Settings, float, StreamWorld]:
    """Import into an isolated world with the demo's workers and wait until all is decided."""
    world = create_world(settings, FOLDER / "logs")
    world.start_worker()
    world.start_worker(kind="risk")
    started = time.perf_counter()
    _import(settings, world.settings.kafka, path)
    world.wait_all_caught_up(1800)
    return world.settings, time.perf_counter() - started, world


def _logistic(results: list[Backtest], metric: str) -> float:
    return statistics.median(r.mean("logistic", metric) for r in results)


def verdict(results: list[Backtest]) -> str:
    """Whether the model beats the rules and the baseline on each metric, and by how much."""
    parts = []
    for metric, (_, _, label) in METRICS.items():
        model = statistics.median(r.mean("model", metric) for r in results)
        rules = statistics.median(r.mean("rules", metric) for r in results)
        logistic = _logistic(results, metric)
        beats = model > rules and model > logistic
        parts.append(
            f"{label}: the model {'beats' if beats else 'does not beat'} both "
            f"({model - rules:+.3f} against the rules, {model - logistic:+.3f} against the "
            "logistic regression)"
        )
    ceiling = statistics.median(r.folds[0].card_precision_ceiling for r in results)
    shares = {
        detector: statistics.median(r.mean(detector, "card_precision_at_k") for r in results)
        / ceiling
        for detector in ("model", "rules", "logistic")
    }
    return (
        "Outcome: "
        + "; ".join(parts)
        + f". A perfect detector would score Card Precision@100 {ceiling:.3f} on these test "
        "days (below 1 where fewer than 100 cards not yet known compromised pay on a day); "
        + ", ".join(f"the {d} reaches {v:.1%} of it" for d, v in shares.items())
        + "."
    )


def main(
    runs: Annotated[int, typer.Option(help="Model fits (one seed each) and import runs.")] = 3,
    seed: Annotated[int, typer.Option(help="Simulation seed.")] = 7,
    customers: Annotated[int, typer.Option(help="Simulated customers.")] = 3000,
    days: Annotated[
        int,
        typer.Option(help="Simulated days: the last 21 are the fold, the rest warm-up."),
    ] = 35,
    record: Annotated[
        bool, typer.Option(help="Write docs/benchmarks.md and bench/results.")
    ] = True,
) -> None:
    """Measure the backtest's three metrics and the import's rows/s beside their references."""
    settings = get_settings()
    path = write_history(seed, customers, days)
    console.log(f"history {path.name}")
    # Import speed first, on an idle stack, alternating with the replay.
    rows_s, events_s, summary = [], [], None
    for i in range(runs):
        rate, summary = import_once(settings, path)
        rows_s.append(rate)
        events_s.append(replay_once(settings.kafka, None)[0])
        console.log(f"run {i + 1}: import {rate:,.0f} rows/s, replay {events_s[-1]:,.0f} ev/s")
    assert summary is not None
    world_settings, decide_s, world = decide(settings, path)
    try:
        dataset = load_dataset(
            world_settings.mysql, world_settings.lakehouse, label_source="ledger"
        )
        results = []
        for run in range(runs):
            results.append(backtest(dataset, PROTOCOL, TrainConfig(seed=run)))
            r = results[-1]
            console.log(
                f"fit {run + 1}: "
                + ", ".join(
                    f"{m} model {r.mean('model', m):.3f} rules {r.mean('rules', m):.3f} "
                    f"logistic {r.mean('logistic', m):.3f}"
                    for m in METRICS
                )
            )
    finally:
        world.destroy()
    command = f"python -m bench.backtest --runs {runs}"
    figures = [
        Figure(
            figure,
            unit,
            [r.mean("model", metric) for r in results],
            command,
            RULES,
            [r.mean("rules", metric) for r in results],
            target="beats rules and logistic regression",
        )
        for metric, (figure, unit, _) in METRICS.items()
    ]
    figures.append(
        Figure(
            "import.transactions_rows_per_s",
            "rows/s",
            rows_s,
            command,
            "Online Retail replay, same broker (events/s)",
            events_s,
        )
    )
    fold = results[0].folds[0]
    logistic = ", ".join(
        f"{figure} {_logistic(results, m):.3f}" for m, (figure, _, _) in METRICS.items()
    )
    sim = history_config(seed, customers, days)
    notes = (
        f"Data: `paystream simulate --seed {seed}` with {customers:,} customers, "
        f"{sim.merchants} merchants, {days} days and raised fraud rates, including the "
        "Handbook's slow scenarios (a skimmed merchant every other day for "
        f"{sim.compromise_days} days, {sim.account_takeovers_per_day:g} account takeovers a "
        f"day), written as a foreign CSV ({summary.rows:,} rows, {summary.fraud:,} labelled "
        "fraud: card testing makes a stolen card pay many times) and imported with its "
        f"mapping at default settings: {sum(summary.events.values()):,} events "
        "(registrations, authorizations, captures, chargebacks 7 days after each fraud). The "
        f"stream worker and one risk agent decided every payment in {decide_s:.0f} s. "
        f"Protocol (Fraud Detection Handbook): the first {days - 21} days only warm the "
        "30-day windows and the delayed merchant fraud rates, as the Handbook trains months "
        f"into its history; train {fold.fold.train_start}..{fold.fold.train_end}, 7-day "
        f"delay, test {fold.fold.test_start}..{fold.fold.test_end} ({fold.test_rows:,} "
        f"payments, {fold.test_frauds:,} fraud); cards already known compromised are dropped "
        "from each test day's ranking. Labels: the ledger's chargebacks. Logistic-regression "
        f"baseline, same features and folds (median of runs): {logistic}. The import rate "
        "counts file rows (each row is 2 to 4 events); the replay counts events. Both run "
        "alone on the stack, alternating; the generator and the broker share the 2 cores."
    )
    notes += " " + verdict(results)
    for fig in figures:
        console.print(f"{fig.figure}: {fig.value:.3f} (reference {fig.reference})")
    console.print(notes)
    if record:
        write(SECTION, figures, notes)
        console.log("recorded in docs/benchmarks.md and bench/results/")


if __name__ == "__main__":
    typer.run(main)

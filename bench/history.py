"""Benchmark: a risk team's labelled history, file to backtest metrics, and feature parity.

The command users run, cold: ``paystream backtest fraud --history FILE`` on a simulated
history of about 500,000 payments (``paystream simulate --foreign-csv``, the Handbook's slow
scenarios on), Spark ``local[2]``: the lakehouse lands the file, computes every payment's
point-in-time features with the agent's own transforms, and the protocol runs on them. The
live stores are not touched.

Figures (``docs/benchmarks.md`` and ``bench/results/``):

* ``risk.history_backtest_s``: file to metrics, wall time of the command. Reference in the
  same run: the first ``--reference-rows`` rows of the same file through ``paystream import
  transactions`` and the live workers and agent of an isolated world at default settings,
  until every consumer group has caught up; the rows/s of both paths are in the notes.
* ``risk.import_feature_mismatch_share``: that full-speed import's logged vectors against
  the offline features of the same rows (every feature of every payment).
* ``risk.feature_parity_mismatch_share``: the first ``--parity-rows`` rows imported at a
  live-like pace, against offline.
* ``risk.backtest_auc_roc``, ``risk.backtest_average_precision``,
  ``risk.backtest_card_precision_at_100``: the model on offline features, the rules as
  reference, the logistic baseline, each scenario and Card Precision@100's ceiling in the
  notes; one fit per seed.

    python -m bench.history --runs 3
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.console import Console

from bench.lib.history_live import PAYSTREAM, head, import_live, live_world, offline_parity
from bench.lib.record import Figure, write
from ingest.simulator.foreign_csv import ForeignCsv
from ingest.simulator.generator import SimulationConfig, simulate
from ml.fraud.backtest import Backtest, Protocol, backtest
from ml.fraud.dataset import FraudDataset
from ml.fraud.offline_dataset import load_offline_dataset
from ml.fraud.train import TrainConfig
from paystream.contracts.history import HistoryPaths
from paystream.settings import REPO_ROOT, get_settings

console = Console()
FOLDER = REPO_ROOT / ".stack" / "bench" / "history"
SECTION = "Fraud backtest straight from a history file (offline features)"
NAMESPACE = "bench-history"
PROTOCOL = Protocol(train_days=7, delay_days=7, test_days=7, k=100)
METRICS = {
    "auc_roc": ("risk.backtest_auc_roc", "AUC ROC"),
    "average_precision": ("risk.backtest_average_precision", "AP"),
    "card_precision_at_k": ("risk.backtest_card_precision_at_100", "precision"),
}
SCENARIOS = ("compromised_merchant", "account_takeover")


def history_config(seed: int) -> SimulationConfig:
    """About 500,000 payments: 16,000 customers, 10,000 terminals, 51 days, the Handbook's
    compromised terminals and account takeovers."""
    return SimulationConfig(
        seed=seed,
        customers=16_000,
        merchants=10_000,
        days=51,
        compromised_merchants_per_day=2.0,
        account_takeovers_per_day=2.0,
        compromise_days=28,
    )


def write_history(seed: int) -> tuple[Path, dict[str, str]]:
    """The history as a foreign CSV with its mapping, and each fraud's pattern."""
    FOLDER.mkdir(parents=True, exist_ok=True)
    path, labels = FOLDER / f"history-{seed}.csv", FOLDER / f"history-{seed}.patterns.json"
    if not path.exists() or not labels.exists():
        patterns: dict[str, str] = {}
        with ForeignCsv(path) as out:
            for event, label in simulate(history_config(seed)):
                out.add(event, label)
                if label is not None:
                    patterns[label.payment_id] = label.pattern
        labels.write_text(json.dumps(patterns))
    return path, json.loads(labels.read_text())


def backtest_once(path: Path) -> tuple[float, dict[str, float]]:
    """``paystream backtest fraud --history`` as users run it: (wall seconds, step seconds)."""
    started = time.monotonic()
    done = subprocess.run(
        [PAYSTREAM, "backtest", "fraud", "--history", str(path), "--namespace", NAMESPACE],
        capture_output=True,
        text=True,
        check=True,
    )
    seconds = time.monotonic() - started
    steps = {
        name: float(value)
        for name, value in re.findall(r"(land|spark|features) ([0-9.]+) s", done.stdout)
    }
    return seconds, steps


def _subset(dataset: FraudDataset, keep: np.ndarray) -> FraudDataset:
    frame = dataset.frame[keep].reset_index(drop=True)
    return FraudDataset(frame, dataset.matrix[keep], dataset.data_version, "subset")


def scenario_results(
    dataset: FraudDataset, patterns: dict[str, str], seed: int
) -> dict[str, Backtest]:
    """The protocol on legitimate payments and one scenario's frauds at a time."""
    ids = dataset.frame["payment_id"].to_numpy(object)
    # The importer's ids carry no prefix here: the file's ids are the simulator's.
    of = np.asarray([patterns.get(str(p)) for p in ids], dtype=object)
    results = {}
    for scenario in SCENARIOS:
        keep = (dataset.labels == 0) | (of == scenario)
        results[scenario] = backtest(_subset(dataset, keep), PROTOCOL, TrainConfig(seed=seed))
    return results


def _mean(results: list[Backtest], detector: str, metric: str) -> float:
    return float(np.mean([r.mean(detector, metric) for r in results]))


def notes_text(
    results: list[Backtest],
    scenarios: dict[str, Backtest],
    steps: list[dict[str, float]],
    live: tuple[int, float],
    history_rows: int,
    seconds: list[float],
) -> str:
    """What the figures rest on: data, the logistic baseline, scenarios, ceiling, per-step
    seconds and both paths' rows/s."""
    lines = []
    fold = results[0].folds[0]
    lines.append(
        f"Data: {history_rows:,} payments ({fold.test_frauds:,} fraud in the test week), "
        f"train {fold.fold.train_start}..{fold.fold.train_end}, test "
        f"{fold.fold.test_start}..{fold.fold.test_end}, 7-day delay."
    )
    for metric, (figure, _) in METRICS.items():
        values = {d: _mean(results, d, metric) for d in ("model", "rules", "logistic")}
        lines.append(
            f"`{figure}`: model {values['model']:.3f}, rules {values['rules']:.3f}, "
            f"logistic {values['logistic']:.3f}."
        )
    short = {
        m: f"{_mean(results, 'model', m):.3f} against {_mean(results, 'logistic', m):.3f}"
        for m in METRICS
    }
    behind = [m for m in METRICS if _mean(results, "model", m) <= _mean(results, "logistic", m)]
    lines.append(
        "Verdict: the model beats the rules and the logistic baseline on all three."
        if not behind
        else "Verdict: the model beats the rules on all three, not the logistic baseline on "
        + "; ".join(f"{m} ({short[m]})" for m in behind)
        + ": target missed."
    )
    chosen = {str(r.folds[0].chosen) for r in results}
    lines.append(f"Hyperparameters chosen by prequential validation: {', '.join(sorted(chosen))}.")
    ceiling = float(np.mean([r.folds[0].card_precision_ceiling for r in results]))
    lines.append(f"Card Precision@100 ceiling (a perfect detector, same days): {ceiling:.3f}.")
    for scenario, result in scenarios.items():
        parts = ", ".join(
            f"{name} model {result.mean('model', m):.3f} / rules {result.mean('rules', m):.3f}"
            f" / logistic {result.mean('logistic', m):.3f}"
            for m, (name, _) in zip(
                METRICS, (("AUC ROC", 0), ("AP", 0), ("CP@100", 0)), strict=True
            )
        )
        lines.append(f"Scenario {scenario} (legitimate payments and its frauds only): {parts}.")
    median_steps = {
        name: float(np.median([s.get(name, float("nan")) for s in steps]))
        for name in ("land", "spark", "features")
    }
    rest = float(np.median(seconds)) - sum(median_steps.values())
    lines.append(
        "Median seconds per step: "
        + ", ".join(f"{k} {v:.1f}" for k, v in median_steps.items())
        + f", backtest and MLflow {rest:.1f} (includes the CLI's start)."
    )
    live_rows, live_s = live
    lines.append(
        f"Rows/s: history path {history_rows / float(np.median(seconds)):,.0f} (file to "
        f"metrics); live path {live_rows / live_s:,.0f} (import, ledger, projections and "
        "agent caught up)."
    )
    return "\n\n".join(lines)


def main(
    runs: Annotated[int, typer.Option(help="Cold runs of the command, and model seeds.")] = 3,
    seed: Annotated[int, typer.Option(help="Simulation seed.")] = 2026,
    reference_rows: Annotated[int, typer.Option(help="Rows through the live path.")] = 50_000,
    parity_rows: Annotated[int, typer.Option(help="Rows imported at a live pace.")] = 5_000,
    pace: Annotated[float, typer.Option(help="Events/s of the live-paced import.")] = 400.0,
    record: Annotated[bool, typer.Option(help="Write docs and bench/results.")] = True,
) -> None:
    """Measure file-to-metrics on offline features beside the live path, and both parities."""
    settings = get_settings()
    path, patterns = write_history(seed)
    history_rows = sum(1 for _ in path.open()) - 1
    console.log(f"history {path.name}: {history_rows:,} rows")
    seconds, steps = [], []
    for run in range(runs):
        took, step = backtest_once(path)
        seconds.append(took)
        steps.append(step)
        console.log(f"run {run + 1}: backtest --history {took:.1f} s {step}")
    # The live path on the same machine, right after (the figure's reference).
    work = FOLDER / "live"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    prefix_file = head(path, reference_rows, work / "reference.csv")
    paced_file = head(path, parity_rows, work / "paced.csv")
    world = live_world(settings, work / "logs")
    try:
        fast = import_live(world, prefix_file, "fast-", None)
        console.log(f"live path: {reference_rows:,} rows caught up in {fast.seconds:.1f} s")
        imported = offline_parity(world, prefix_file, "fast-")
        paced = import_live(world, paced_file, "paced-", pace)
        console.log(f"live-paced: {parity_rows:,} rows in {paced.seconds:.1f} s")
        live_paced = offline_parity(world, paced_file, "paced-")
    finally:
        world.destroy()
    console.log(
        f"mismatch share: full speed {imported.overall_share:.6f} ({imported.compared:,} "
        f"payments), paced {live_paced.overall_share:.6f} ({live_paced.compared:,})"
    )
    # Which features differ, with examples (payment, offline, logged): a rare mismatch is
    # then diagnosable from the run's own log.
    for name, report in (("full speed", imported), ("paced", live_paced)):
        for feature, count in report.mismatches.items():
            if count:
                console.log(f"{name}: {feature} differs for {count}: {report.examples[feature]}")
    dataset = load_offline_dataset(HistoryPaths.of(settings.lakehouse.root, NAMESPACE).features)
    results = [backtest(dataset, PROTOCOL, TrainConfig(seed=s)) for s in range(runs)]
    scenarios = scenario_results(dataset, patterns, 0)
    if not record:
        return
    command = f"python -m bench.history --runs {runs}"
    live_name = f"live path, first {reference_rows:,} rows, import to caught up (s)"
    figures = [
        Figure(
            "risk.history_backtest_s",
            "s",
            seconds,
            command,
            live_name,
            [fast.seconds],
            target="<= 180",
            higher_is_better=False,
        ),
        Figure(
            "risk.import_feature_mismatch_share",
            "share",
            [imported.overall_share],
            command,
            target="0",
            higher_is_better=False,
        ),
        Figure(
            "risk.feature_parity_mismatch_share",
            "share",
            [live_paced.overall_share],
            command,
            target="0",
            higher_is_better=False,
        ),
    ]
    figures += [
        Figure(
            figure,
            unit,
            [r.mean("model", metric) for r in results],
            command,
            "rules-only score, same folds",
            [r.mean("rules", metric) for r in results],
            target="beats rules and logistic regression",
        )
        for metric, (figure, unit) in METRICS.items()
    ]
    notes = notes_text(
        results, scenarios, steps, (reference_rows, fast.seconds), history_rows, seconds
    )
    write(SECTION, figures, notes)


if __name__ == "__main__":
    typer.run(main)

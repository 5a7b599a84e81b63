"""Benchmark: fraud model quality beside the rules-only baseline, on the current ledger.

Figures ``risk.auc_pr`` (average precision) and ``risk.card_precision_at_100`` (Fraud
Detection Handbook, daily mean), each measured on the held-out last days of the risk agent's
logged decisions. Reference: the agent's rules-only score (``risk_decisions.rules_score``)
on the same holdout, in the same run; ratio = model / rules. A run is one model fit with its
own seed (the data and split stay fixed), so the spread shows the seed's effect. Nothing is
registered in MLflow.

Run it after a large ``paystream simulate`` has gone through the risk agent:

    python -m bench.fraud_quality --runs 3
    python -m bench.fraud_quality --labels .stack/simulate/labels-<seed>.jsonl  # ground truth
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from bench.lib.record import Figure, write
from ml.fraud.dataset import load_dataset
from ml.fraud.train import TrainConfig, fit_and_evaluate
from paystream.errors import PaystreamError
from paystream.settings import Settings, get_settings

console = Console()
SECTION = "Fraud model quality"
RULES = "rules-only score (risk_decisions.rules_score), same holdout"


def main(
    runs: Annotated[int, typer.Option(help="Model fits, one seed each.")] = 3,
    holdout_days: Annotated[
        int | None, typer.Option(help="Held-out last days (default: last 30% of days).")
    ] = None,
    labels: Annotated[
        Path | None, typer.Option(help="Ground-truth labels JSONL from `paystream simulate`.")
    ] = None,
    threads: Annotated[
        int | None, typer.Option(help="CPU threads per fit (default: all cores).")
    ] = None,
    record: Annotated[
        bool, typer.Option(help="Write docs/benchmarks.md and bench/results (else print only).")
    ] = True,
    simulate_seed: Annotated[
        int | None,
        typer.Option(
            help="First run `paystream simulate` with this seed through a stream worker and a "
            "risk agent in an isolated world, one simulated day at a time, and measure on it "
            "with the simulator's ground-truth labels."
        ),
    ] = None,
    customers: Annotated[int, typer.Option(help="Simulated customers (--simulate-seed).")] = 600,
    days: Annotated[int, typer.Option(help="Simulated days (--simulate-seed).")] = 21,
) -> None:
    """Measure risk.auc_pr and risk.card_precision_at_100 beside the rules baseline."""
    settings = get_settings()
    world = None
    if simulate_seed is not None:
        from bench.lib.fraud_data import simulated_world

        world, labels = simulated_world(settings, simulate_seed, customers, days)
        settings = world.settings
    try:
        _measure(settings, runs, holdout_days, labels, threads, record, simulate_seed)
    finally:
        if world is not None:
            world.destroy()


def _measure(
    settings: Settings,
    runs: int,
    holdout_days: int | None,
    labels: Path | None,
    threads: int | None,
    record: bool,
    simulate_seed: int | None,
) -> None:
    try:
        dataset = load_dataset(settings.mysql, settings.lakehouse, labels)
    except PaystreamError as exc:
        console.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(1) from exc
    console.log(f"data {dataset.data_version} (labels: {dataset.label_source})")
    auc, auc_rules, cp, cp_rules = [], [], [], []
    evaluation = None
    for seed in range(runs):
        fitted = fit_and_evaluate(
            dataset, TrainConfig(seed=seed, holdout_days=holdout_days, threads=threads)
        )
        evaluation = fitted.evaluation
        auc.append(evaluation.model.auc_pr)
        auc_rules.append(evaluation.rules.auc_pr)
        cp.append(evaluation.model.card_precision_at_k)
        cp_rules.append(evaluation.rules.card_precision_at_k)
        console.log(
            f"run {seed + 1}: AUC-PR {auc[-1]:.3f} (rules {auc_rules[-1]:.3f}), "
            f"CP@100 {cp[-1]:.3f} (rules {cp_rules[-1]:.3f})"
        )
    assert evaluation is not None
    command = f"python -m bench.fraud_quality --runs {runs}"
    command += f" --holdout-days {holdout_days}" if holdout_days else ""
    if simulate_seed is not None:
        command += f" --simulate-seed {simulate_seed}"
    elif labels:
        command += f" --labels {labels}"
    figures = [
        Figure("risk.auc_pr", "AUC-PR", auc, command, RULES, auc_rules),
        Figure("risk.card_precision_at_100", "precision", cp, command, RULES, cp_rules),
    ]
    notes = (
        f"Data: `{dataset.data_version}`, labels from {dataset.label_source}. Holdout: the last "
        f"{evaluation.holdout_days} day(s) by authorization time, {evaluation.holdout_rows:,} "
        f"payments of which {evaluation.holdout_positives:,} fraud; the model fits on the "
        "earlier days. Card Precision@100: per day, the 100 cards with the highest score "
        "that day, the share of them with a fraudulent payment that day (divided by 100 as "
        "in the Fraud Detection Handbook), averaged over the holdout days. Chargeback labels "
        "lag payments by days, so ledger labels of the last days are incomplete for both "
        "scorers alike."
    )
    if len(set(auc)) == 1:
        notes += (
            " The runs coincide: below 10,000 training rows the boosting uses no random "
            "early-stopping split, so the seed does not change the model."
        )
    table = Table(title=SECTION)
    for column in ("figure", "median", "reference", "ratio"):
        table.add_column(column)
    for fig in figures:
        ref = fig.reference
        table.add_row(
            fig.figure, f"{fig.value:.3f}", "—" if ref is None else f"{ref:.3f}", str(fig.ratio)
        )
    console.print(table)
    if record:
        write(SECTION, figures, notes)
        console.log("recorded in docs/benchmarks.md and bench/results/")


if __name__ == "__main__":
    typer.run(main)

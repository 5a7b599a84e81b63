"""Rich tables and summaries for the ml commands: a fraud model against the rules, a
backtest's detectors, and a recommender against its baselines."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from ml.fraud.backtest import Backtest
    from ml.fraud.backtest_job import BacktestRun
    from ml.fraud.train import TrainResult as FraudResult
    from ml.recommender.pipeline import TrainResult as RecommenderResult
    from paystream.contracts.served import Recommendations

console = Console()

_BACKTEST_METRICS = {
    "auc_roc": "AUC ROC",
    "average_precision": "Average Precision",
    "card_precision_at_k": "Card Precision@{k} (daily mean)",
}
_RECOMMENDER_METRICS = {
    "precision_at_10": "P@10",
    "recall_at_10": "R@10",
    "ndcg_at_10": "nDCG@10",
    "map_at_10": "MAP@10",
    "coverage": "coverage",
}


def _fmt(value: float) -> str:
    return f"{value:.3f}" if math.isfinite(value) else "—"


def _verdict(promoted: bool, yes: str, no: str) -> str:
    return f"[green]{yes}[/]" if promoted else f"[yellow]{no}[/]"


def fraud_table(result: FraudResult) -> Table:
    """The fraud model beside the rules baseline on the holdout, at each one's thresholds."""
    ev = result.evaluation
    table = Table(
        title=(
            f"{result.model_name} v{result.version} vs rules baseline — holdout: "
            f"{ev.holdout_rows} payments, {ev.holdout_positives} fraud, {ev.holdout_days} day(s)"
        )
    )
    table.add_column("figure")
    table.add_column("model", justify="right")
    table.add_column("rules", justify="right")
    table.add_column("model / rules", justify="right")
    k = "card_precision_at_k"
    rows = [
        ("AUC-PR", "auc_pr"),
        ("precision @ decline", "precision_at_decline"),
        ("recall @ decline", "recall_at_decline"),
        ("precision @ review", "precision_at_review"),
        ("recall @ review", "recall_at_review"),
        ("Card Precision@k (daily mean)", k),
    ]
    for label, name in rows:
        model, rules = getattr(ev.model, name), getattr(ev.rules, name)
        ratio = model / rules if math.isfinite(model) and math.isfinite(rules) and rules else None
        table.add_row(label, _fmt(model), _fmt(rules), "—" if ratio is None else f"{ratio:.2f}")
    mt, rt = ev.model_thresholds, ev.rules_thresholds
    table.add_row("review threshold", _fmt(mt.review_threshold), _fmt(rt.review_threshold), "")
    table.add_row("decline threshold", _fmt(mt.decline_threshold), _fmt(rt.decline_threshold), "")
    return table


def print_fraud_result(result: FraudResult) -> None:
    """The fraud model's table, its data and run, its registration and promotion."""
    console.print(fraud_table(result))
    ev = result.evaluation
    console.print(
        f"data {result.data_version} · thresholds from {ev.threshold_source} · "
        f"MLflow run {result.run_id}"
    )
    console.print(
        f"registered [bold]{result.model_name}[/] v{result.version} as challenger "
        f"(tags review_threshold={ev.model_thresholds.review_threshold:.4f}, "
        f"decline_threshold={ev.model_thresholds.decline_threshold:.4f})"
    )
    if result.promotion is not None:
        verdict = _verdict(result.promotion.promoted, "promoted to champion", "not promoted")
        console.print(f"{verdict}: {result.promotion.reason}")


def results_table(result: Backtest) -> Table:
    """Each metric for the rules, the model and the logistic baseline, fold means."""
    p = result.protocol
    folds = result.folds
    title = (
        f"backtest: train {p.train_days} d, delay {p.delay_days} d, test {p.test_days} d, "
        f"{len(folds)} fold(s); newest test {folds[0].fold.test_start}..{folds[0].fold.test_end}"
    )
    table = Table("metric", "rules", "model", "logistic", "model − best other", title=title)
    for metric, label in _BACKTEST_METRICS.items():
        values = [result.mean(d, metric) for d in ("rules", "model", "logistic")]
        others = [v for v in (values[0], values[2]) if math.isfinite(v)]
        gain = values[1] - max(others) if others and math.isfinite(values[1]) else math.nan
        table.add_row(
            label.format(k=p.k), *map(_fmt, values), f"{gain:+.3f}" if math.isfinite(gain) else "—"
        )
    return table


def print_backtest(run: BacktestRun, model_name: str) -> None:
    """A backtest's metrics table, one line per fold, its MLflow run and any promotion."""
    console.print(results_table(run.result))
    for f in run.result.folds:
        empty = (
            f", empty features filled: {', '.join(f.empty_features)}" if f.empty_features else ""
        )
        console.print(
            f"fold {f.fold.index}: train {f.train_rows:,} ({f.train_frauds} fraud), test "
            f"{f.test_rows:,} ({f.test_frauds} fraud), "
            f"{f.compromised_cards_per_day:.1f} compromised cards/day{empty}; "
            f"Card Precision@{run.result.protocol.k} ceiling {f.card_precision_ceiling:.3f}"
        )
        chosen = ", ".join(f"{k}={v}" for k, v in f.chosen.items()) or "the defaults"
        console.print(
            f"  model hyperparameters: {chosen} (prequential validation on the training "
            f"period, {f.selection_blocks} block(s))"
        )
    logged = run.logged
    console.print(f"MLflow run {logged.run_id} (experiment paystream-fraud-backtest)")
    if logged.promotion is not None:
        verdict = _verdict(logged.promotion.promoted, "promoted", "not promoted")
        console.print(f"{model_name} v{logged.version} {verdict}: {logged.promotion.reason}")


def recommender_table(result: RecommenderResult) -> Table:
    """Each recommender model's metrics on the temporal split, beside popularity."""
    ev = result.evaluation
    split = result.split
    table = Table(
        title=(
            f"temporal split: train ≤ {split.cutoff:%Y-%m-%d %H:%M}, last {split.test_weeks} "
            f"week(s) held out; {len(split.truth())} test customers"
        )
    )
    table.add_column("model")
    names = list(next(iter(ev.metrics.values())))
    for name in names:
        table.add_column(_RECOMMENDER_METRICS.get(name, name), justify="right")
    table.add_column("nDCG ÷ pop.", justify="right")
    table.add_column("fit s", justify="right")
    for model, values in ev.metrics.items():
        ratio = ev.over_baseline(model)
        table.add_row(
            model,
            *(f"{values[n]:.4f}" for n in names),
            "—" if ratio is None else f"{ratio:.2f}",
            f"{ev.fit_s.get(model, 0.0):.1f}",
        )
    return table


def print_recommender_result(result: RecommenderResult, model_name: str) -> None:
    """The recommender's table, its data and run, promotion, and what was served."""
    console.print(recommender_table(result))
    console.print(
        f"data {result.data.version} ({len(result.data.frame)} rows, {result.data.users} "
        f"customers, {result.data.items} items) · MLflow run {result.run_id}"
    )
    console.print(f"registered [bold]{model_name}[/] v{result.version} as challenger")
    if result.promotion is not None:
        verdict = _verdict(result.promotion.promoted, "promoted to champion", "not promoted")
        console.print(f"{verdict}: {result.promotion.reason} ({result.champion_basis})")
    if result.served is not None:
        console.print(
            f"served {result.served.customers} customers "
            f"({result.served.per_second:,.0f}/s) + {result.graph_served} from the graph "
            f"+ the popular list; {result.serve_note}"
        )
        console.print(result.catalogue_note)
    else:
        console.print(result.serve_note)


def served_table(found: Recommendations, who: str) -> Table:
    """A served list as the API returns it: rank, item, name, price, score and source."""
    made = f"{found.model_name} v{found.model_version} · {found.generated_at:%Y-%m-%d %H:%M}"
    table = Table(title=f"{who} · {made}")
    table.add_column("#", justify="right")
    table.add_column("item")
    table.add_column("name")
    table.add_column("unit price", justify="right")
    table.add_column("score", justify="right")
    table.add_column("source")
    for n, item in enumerate(found.items, start=1):
        price = "—" if item.unit_price is None else str(item.unit_price)
        name = item.name or "—"
        table.add_row(str(n), item.item_id, name, price, f"{item.score:.4g}", item.source)
    return table

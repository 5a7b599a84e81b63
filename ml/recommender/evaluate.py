"""Offline evaluation on a temporal split, every model beside the popularity baseline."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ml.recommender.data import Split
from ml.recommender.metrics import ranking_metrics
from ml.recommender.models import Recommender

BASELINE = "popularity"
#: The metric promotion compares (on the same split) and the benchmark reports.
PRIMARY = "ndcg_at_10"

Advance = Callable[[int], None]


@dataclass(frozen=True)
class Evaluation:
    """Metrics per model on one split, with fit and scoring times."""

    metrics: dict[str, dict[str, float]]
    fit_s: dict[str, float] = field(default_factory=dict)
    k: int = 10

    def over_baseline(self, model: str, metric: str = PRIMARY) -> float | None:
        """``model``'s ``metric`` over popularity's (None when the baseline scores 0)."""
        base = self.metrics.get(BASELINE, {}).get(metric)
        if not base:
            return None
        return self.metrics[model][metric] / base

    def flat(self) -> dict[str, float]:
        """``<model>_<metric>`` for MLflow."""
        out = {f"{m}_{name}": v for m, values in self.metrics.items() for name, v in values.items()}
        out.update({f"{m}_fit_s": v for m, v in self.fit_s.items()})
        return out


def evaluate_models(
    models: Mapping[str, Recommender],
    split: Split,
    *,
    k: int = 10,
    catalogue_size: int,
    batch_size: int = 500,
    advance: Advance | None = None,
) -> Evaluation:
    """Fit every model on ``split.train`` and rank the test users' unseen items.

    ``advance`` is called with the number of users scored, for a progress bar (total:
    ``len(models) * test users``).
    """
    truth = split.truth()
    users = sorted(truth)
    metrics: dict[str, dict[str, float]] = {}
    fit_s: dict[str, float] = {}
    for name, model in models.items():
        started = time.perf_counter()
        model.fit(split.train)
        fit_s[name] = time.perf_counter() - started
        ranked: dict[str, list[str]] = {}
        for start in range(0, len(users), batch_size):
            batch = users[start : start + batch_size]
            found = model.recommend_many(batch, k, exclude_seen=True)
            ranked.update({u: [item.item_id for item in found[u]] for u in batch})
            if advance is not None:
                advance(len(batch))
        metrics[name] = ranking_metrics(ranked, truth, catalogue_size, k)
    return Evaluation(metrics, fit_s, k)


def metrics_chart(evaluation: Evaluation, target: Path) -> Path:
    """A grouped bar chart of every metric per model, written as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = list(evaluation.metrics)
    names = list(next(iter(evaluation.metrics.values())))
    width = 0.8 / len(models)
    figure, axes = plt.subplots(figsize=(9, 4.5))
    for n, model in enumerate(models):
        positions = [i + n * width for i in range(len(names))]
        axes.bar(positions, [evaluation.metrics[model][m] for m in names], width, label=model)
    axes.set_xticks([i + width * (len(models) - 1) / 2 for i in range(len(names))], names)
    axes.set_ylabel("value")
    axes.set_title(f"recommender metrics at {evaluation.k}, temporal split")
    axes.legend()
    figure.tight_layout()
    target.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(target, dpi=100)
    plt.close(figure)
    return target

"""Recommender figures on the real Online Retail interactions, on a 2-core Spark (local[2]).

* ``recommender.ndcg_at_10_over_popularity``: ALS's nDCG@10 over the popularity baseline's on
  the temporal split (last ``--test-weeks`` weeks held out), one run per ALS seed; the full
  offline table (every model, every metric) goes in the notes.
* ``recommender.train_s``: seconds to fit ALS on all interactions; reference: the item
  co-occurrence fit (scipy) on the same data, same run.
* ``recommender.scoring_customers_per_s``: customers scored (numpy) and written to Redis
  (pipelined JSON) per second; reference: the same documents written without scoring.

Run: ``.venv/bin/python -m bench.recommender`` (full data; ``--max-customers 300 --runs 1``
proves it works in a minute). Spark and the JIT are warmed by one untimed fit first.
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid
from typing import Any

from bench.lib.record import Figure, write
from ml.recommender.als import ALSParams, ALSRecommender
from ml.recommender.data import clean, temporal_split
from ml.recommender.evaluate import Evaluation, evaluate_models
from ml.recommender.models import CooccurrenceRecommender, PopularityRecommender
from ml.recommender.online_retail import online_retail_interactions
from ml.recommender.pipeline import audience
from ml.recommender.serving import Served, redis_client, write_recommendations
from paystream.contracts.served import ServedKeys
from paystream.settings import get_settings

SECTION = "recommender"


def _table(evaluations: list[Evaluation]) -> str:
    """Median of each metric over the runs, per model, as Markdown."""
    models = list(evaluations[0].metrics)
    names = list(evaluations[0].metrics[models[0]])
    lines = [
        "| model | " + " | ".join(names) + " | nDCG@10 ÷ popularity |",
        "| --- |" + " --- |" * (len(names) + 1),
    ]
    for model in models:
        values = [statistics.median(e.metrics[model][n] for e in evaluations) for n in names]
        ratio = statistics.median(e.over_baseline(model) or 0.0 for e in evaluations)
        cells = " | ".join(f"{v:.4f}" for v in values)
        lines.append(f"| {model} | {cells} | {ratio:.2f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Measure and record the recommender figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--max-customers", type=int, default=None)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--test-weeks", type=int, default=4)
    parser.add_argument("--no-write", action="store_true", help="print, do not record")
    args = parser.parse_args(argv)

    from paystream.stores.spark import build_spark

    settings = get_settings()
    spark = build_spark(settings.lakehouse.model_copy(update={"spark_master": "local[2]"}))
    spark.sparkContext.setLogLevel("ERROR")
    frame = clean(online_retail_interactions(max_customers=args.max_customers), "online-retail")
    split = temporal_split(frame, args.test_weeks)
    catalogue = int(frame["item"].nunique())
    print(f"{len(frame)} interactions, {frame['user'].nunique()} customers, {catalogue} items")
    ALSRecommender(spark, ALSParams(max_iter=2)).fit(split.train)  # warm-up, untimed

    evaluations: list[Evaluation] = []
    ratios, train_s, cooc_s, scoring, writing = [], [], [], [], []
    client = redis_client(settings.redis)
    for n in range(args.runs):
        params = ALSParams(seed=42 + n)
        models: dict[str, Any] = {
            "popularity": PopularityRecommender(),
            "cooccurrence": CooccurrenceRecommender(),
            "als": ALSRecommender(spark, params),
        }
        evaluation = evaluate_models(models, split, catalogue_size=catalogue)
        evaluations.append(evaluation)
        ratios.append(evaluation.over_baseline("als") or 0.0)

        als = ALSRecommender(spark, params)
        started = time.perf_counter()
        als.fit(frame)
        train_s.append(time.perf_counter() - started)
        cooc = CooccurrenceRecommender()
        started = time.perf_counter()
        cooc.fit(frame)
        cooc_s.append(time.perf_counter() - started)

        assert als.model is not None
        keys = ServedKeys(f"bench-reco-{uuid.uuid4().hex[:8]}")
        served = Served("bench-recommender", str(n))
        users = [str(u) for u in als.model.users]
        started = time.perf_counter()
        lists = {audience(u, "bench"): v for u, v in als.model.recommend_many(users, 10).items()}
        stats = write_recommendations(client, keys, served, lists)
        scoring.append(stats.customers / (time.perf_counter() - started))
        # Reference: the same lists written again with scoring already done.
        writing.append(write_recommendations(client, keys, served, lists).per_second)
        stale = list(client.scan_iter(f"{keys.namespace}:*", count=1000))
        for start in range(0, len(stale), 1000):
            client.delete(*stale[start : start + 1000])
        print(
            f"run {n + 1}: nDCG ratio {ratios[-1]:.2f}, fit {train_s[-1]:.1f}s, "
            f"scoring {scoring[-1]:,.0f}/s (write-only {writing[-1]:,.0f}/s)"
        )
    client.close()

    size = "all" if args.max_customers is None else f"{args.max_customers}"
    command = "python -m bench.recommender" + (
        f" --max-customers {args.max_customers}" if args.max_customers else ""
    )
    figures = [
        Figure(
            f"{SECTION}.ndcg_at_10_over_popularity",
            "× popularity",
            ratios,
            command,
            target=">= 1.5",
        ),
        Figure(
            f"{SECTION}.train_s",
            "s",
            train_s,
            command,
            reference_name="item co-occurrence fit (scipy), same data",
            reference_runs=cooc_s,
            higher_is_better=False,
        ),
        Figure(
            f"{SECTION}.scoring_customers_per_s",
            "customers/s",
            scoring,
            command,
            reference_name="Redis pipelined writes of the same lists, no scoring",
            reference_runs=writing,
        ),
    ]
    notes = (
        f"Online Retail interactions ({size} customers: {len(frame):,} customer × product "
        f"pairs, {catalogue:,} items); temporal split: pairs whose latest purchase falls in the "
        f"last {args.test_weeks} weeks are the test set ({len(split.truth()):,} customers with "
        f"earlier history). ALS: implicit, {ALSParams().as_params()}, one seed per run "
        "(42, 43, …), Spark local[2]. Median over runs:\n\n" + _table(evaluations)
    )
    if args.no_write:
        print(notes)
        return
    write(SECTION, figures, notes)
    print(notes)


if __name__ == "__main__":
    main()

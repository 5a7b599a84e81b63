"""``paystream train recommender`` and ``paystream recommend``: options and printing only.

The logic lives in :mod:`ml.recommender`; ``train recommender`` is registered on the
``train`` sub-app, ``recommend`` on the root app.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from paystream.producers.online_retail import MERCHANT_ID as RETAIL_MERCHANT
from paystream.settings import get_settings

if TYPE_CHECKING:
    from ml.recommender.pipeline import TrainResult

console = Console()
_LABELS = {
    "precision_at_10": "P@10",
    "recall_at_10": "R@10",
    "ndcg_at_10": "nDCG@10",
    "map_at_10": "MAP@10",
    "coverage": "coverage",
}


def _metrics_table(result: TrainResult) -> Table:
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
        table.add_column(_LABELS.get(name, name), justify="right")
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


def train_recommender(
    interactions: Annotated[
        Path | None,
        typer.Option(
            "--interactions",
            help="Interactions table with columns user, item, weight, timestamp and, "
            "optionally, merchant_id: Parquet, CSV(.gz) or a Delta folder. Default: gold "
            "interactions_customer_product.",
        ),
    ] = None,
    merchant: Annotated[
        str | None,
        typer.Option(
            "--merchant",
            help="Whose customers a table without a merchant_id column holds. Lists are "
            "learnt and served per merchant, from that merchant's interactions only.",
        ),
    ] = None,
    promote: Annotated[
        bool,
        typer.Option(
            "--promote",
            help="Make the new version champion if its nDCG@10 beats the champion's on the "
            "same temporal split (the first model always becomes champion).",
        ),
    ] = False,
    serve: Annotated[
        bool,
        typer.Option(
            "--serve/--no-serve",
            help="Write top-N lists to Redis (skipped when --promote was refused).",
        ),
    ] = True,
    graph: Annotated[
        bool,
        typer.Option(
            "--graph/--no-graph",
            help="Serve graph co-occurrence lists to customers in the graph the model never saw.",
        ),
    ] = True,
    top_n: Annotated[int, typer.Option("--top-n", min=1, max=100, help="Items served.")] = 10,
    test_weeks: Annotated[
        int, typer.Option("--test-weeks", min=1, help="Weeks held out at the end for testing.")
    ] = 4,
    seed: Annotated[int, typer.Option("--seed", help="ALS random seed.")] = 42,
    rank: Annotated[int, typer.Option("--rank", min=1, help="ALS latent factors.")] = 64,
    reg_param: Annotated[float, typer.Option("--reg-param", min=0.0, help="ALS L2.")] = 0.5,
    alpha: Annotated[float, typer.Option("--alpha", min=0.0, help="ALS confidence scale.")] = 2.0,
    max_iter: Annotated[int, typer.Option("--max-iter", min=1, help="ALS sweeps.")] = 10,
    model_name: Annotated[
        str, typer.Option("--model-name", help="Registered model name in MLflow.")
    ] = "paystream-recommender",
    experiment: Annotated[
        str, typer.Option("--experiment", help="MLflow experiment of the run.")
    ] = "paystream-recommender",
) -> None:
    """Train the product recommender, compare it with popularity, register it, serve it.

    Fits implicit ALS (Spark MLlib), item co-occurrence and a popularity baseline on all but
    the last weeks, reports Precision/Recall/nDCG/MAP@10 and coverage, refits ALS on all the
    data, logs the run and registers the model as challenger in MLflow, and writes every
    customer's top-N (plus the popular list for cold customers) to Redis.
    """
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    from ml.recommender.als import ALSParams
    from ml.recommender.pipeline import TrainConfig, run

    config = TrainConfig(
        interactions=interactions,
        test_weeks=test_weeks,
        top_n=top_n,
        als=ALSParams(rank=rank, reg_param=reg_param, alpha=alpha, max_iter=max_iter, seed=seed),
        promote=promote,
        serve=serve,
        graph=graph,
        model_name=model_name,
        experiment=experiment,
        merchant=merchant,
    )
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, TimeElapsedColumn(), console=console) as progress:
        result = run(get_settings(), config, progress=progress)
    console.print(_metrics_table(result))
    console.print(
        f"data {result.data.version} ({len(result.data.frame)} rows, {result.data.users} "
        f"customers, {result.data.items} items) · MLflow run {result.run_id}"
    )
    console.print(f"registered [bold]{model_name}[/] v{result.version} as challenger")
    if result.promotion is not None:
        verdict = (
            "[green]promoted to champion[/]"
            if result.promotion.promoted
            else "[yellow]not promoted[/]"
        )
        console.print(f"{verdict}: {result.promotion.reason} ({result.champion_basis})")
    if result.served is not None:
        console.print(
            f"served {result.served.customers} customers "
            f"({result.served.per_second:,.0f}/s) + {result.graph_served} from the graph "
            f"+ the popular list; {result.serve_note}"
        )
    else:
        console.print(result.serve_note)


def recommend(
    customer_id: Annotated[str, typer.Argument(help="Customer id, e.g. cust-17850.")],
    merchant: Annotated[
        str,
        typer.Option(
            "--merchant", help="The merchant whose list to show (lists are per merchant)."
        ),
    ] = RETAIL_MERCHANT,
    namespace: Annotated[
        str | None,
        typer.Option("--namespace", help="Redis namespace (default: streams.namespace)."),
    ] = None,
) -> None:
    """Print what the platform serves a merchant for a customer (their list, else the
    merchant's popular one)."""
    from ml.recommender.serving import read_recommendations, redis_client
    from paystream.contracts.served import ServedKeys

    settings = get_settings()
    client = redis_client(settings.redis)
    keys = ServedKeys(namespace or settings.streams.namespace)
    found, fallback = read_recommendations(client, keys, customer_id, merchant)
    client.close()
    if found is None:
        console.print(
            "nothing is served yet; train and serve with `paystream train recommender --promote`"
        )
        raise typer.Exit(1)
    who = "popular list (no personal list)" if fallback else customer_id
    made = f"{found.model_name} v{found.model_version} · {found.generated_at:%Y-%m-%d %H:%M}"
    table = Table(title=f"{who} · {made}")
    table.add_column("#", justify="right")
    table.add_column("item")
    table.add_column("score", justify="right")
    table.add_column("source")
    for n, item in enumerate(found.items, start=1):
        table.add_row(str(n), item.item_id, f"{item.score:.4g}", item.source)
    console.print(table)

"""``paystream train``: train models, log them to MLflow, promote by alias when better.

One command per model; the logic lives in ``ml/`` and this module only parses options and
prints results.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ml.commands.render import console, print_fraud_result, print_recommender_result
from paystream.settings import get_settings

app = typer.Typer(
    help="Train models on the platform's data and register them in MLflow.",
    no_args_is_help=True,
)


@app.command()
def fraud(
    promote: Annotated[
        bool,
        typer.Option(
            "--promote",
            help="Make the new version champion if its AUC-PR beats the champion's on the "
            "same holdout (the first model always becomes champion).",
        ),
    ] = False,
    labels: Annotated[
        Path | None,
        typer.Option(
            "--labels",
            help="Ground-truth labels, JSON lines with payment_id (paystream simulate's "
            ".stack/simulate/labels-<seed>.jsonl). Default: gold fraud_labels if built, "
            "else fraud_chargeback refunds in the ledger.",
        ),
    ] = None,
    offline: Annotated[
        str | None,
        typer.Option(
            "--offline",
            help="Train on the offline features of this history namespace (`paystream "
            "features build --history FILE`), with the file's labels, instead of the "
            "logged decisions.",
        ),
    ] = None,
    holdout_days: Annotated[
        int | None,
        typer.Option(
            "--holdout-days",
            min=1,
            help="Hold out the last N days for evaluation (default: the last 30% of days).",
        ),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Random seed of the model.")] = 0,
    model_name: Annotated[
        str, typer.Option("--model-name", help="Registered model name in MLflow.")
    ] = "paystream-fraud",
    experiment: Annotated[
        str, typer.Option("--experiment", help="MLflow experiment of the run.")
    ] = "paystream-fraud",
    threads: Annotated[
        int | None,
        typer.Option("--threads", min=1, help="CPU threads for training (default: all cores)."),
    ] = None,
) -> None:
    """Train the fraud model on the risk agent's logged decisions and register it.

    Reads decisions and labels from the ledger's read replica, splits by time, fits a
    gradient-boosted model, picks review/decline thresholds on validation data, compares it
    with the rules-only baseline on the held-out days, logs everything to MLflow and
    registers the model as the challenger.
    """
    from ml.fraud.train import TrainConfig, run

    config = TrainConfig(
        model_name=model_name,
        experiment=experiment,
        holdout_days=holdout_days,
        seed=seed,
        threads=threads,
    )
    with console.status("training the fraud model") as status:
        result = run(
            get_settings(),
            config,
            labels_path=labels,
            promote=promote,
            offline=offline,
            on_step=lambda step: status.update(f"{step}…"),
        )
    print_fraud_result(result)


@app.command("recommender")
def recommender(
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
    catalogue: Annotated[
        Path | None,
        typer.Option(
            "--catalogue",
            help="Product names and latest unit prices served with each item (columns "
            "merchant_id, item, name, unit_price_minor, currency): a Delta folder or Parquet. "
            "Default: gold product_catalogue (names and prices null until it is built).",
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
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

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
        catalogue=catalogue,
    )
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, TimeElapsedColumn(), console=console) as progress:
        result = run(get_settings(), config, progress=progress)
    print_recommender_result(result, model_name)

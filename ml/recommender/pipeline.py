"""The training flow behind ``paystream train recommender``.

load and check interactions → temporal split → fit and evaluate ALS, co-occurrence and the
popularity baseline → (with ``promote``) the champion's nDCG@10 on the same split → refit ALS
on all the data → MLflow run + registered version (``challenger``) → promotion → batch
scoring into Redis (ALS lists, graph lists for customers ALS never saw, the popular list),
every item named and priced from gold ``product_catalogue``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ml.recommender.als import ALSParams, ALSRecommender, FactorModel
from ml.recommender.catalogue import Catalogue, gold_catalogue_path, load_catalogue
from ml.recommender.data import (
    Interactions,
    InteractionsError,
    Split,
    gold_path,
    load_interactions,
    temporal_split,
    unscoped,
)
from ml.recommender.evaluate import PRIMARY, Evaluation, evaluate_models
from ml.recommender.graph import GraphCooccurrenceRecommender, recommend_for
from ml.recommender.models import CooccurrenceRecommender, PopularityRecommender
from ml.recommender.serving import (
    Audience,
    Served,
    ServeStats,
    redis_client,
    write_popular,
    write_recommendations,
)
from ml.recommender.tracking import EXPERIMENT, MODEL_NAME, ChampionRun, champion_run, log_run
from paystream.contracts.served import RecommendedItem, ServedKeys
from paystream.settings import Settings
from paystream.stores.mlflow import Promotion

if TYPE_CHECKING:
    from pyspark.sql import SparkSession
    from rich.progress import Progress

K = 10


@dataclass(frozen=True)
class TrainConfig:
    """Options of one training run (the command's flags)."""

    interactions: Path | None = None
    test_weeks: int = 4
    top_n: int = 10
    als: ALSParams = field(default_factory=ALSParams)
    promote: bool = False
    serve: bool = True
    graph: bool = True
    model_name: str = MODEL_NAME
    experiment: str = EXPERIMENT
    #: Redis namespace of served keys; the stream's (``streams.namespace``) by default.
    namespace: str | None = None
    #: Graph namespace read for co-occurrence; ``<namespace>:`` (the graph sink's) by default.
    graph_namespace: str | None = None
    max_graph_customers: int = 1000
    chunk_size: int = 1000
    #: Whose customers a table without a ``merchant_id`` column holds (served per merchant).
    merchant: str | None = None
    #: Names and prices of the served items; gold ``product_catalogue`` when None.
    catalogue: Path | None = None


@dataclass(frozen=True)
class TrainResult:
    """What a run did, for the command to print and for tests to check."""

    data: Interactions
    split: Split
    evaluation: Evaluation
    run_id: str
    version: str
    champion_value: float | None
    champion_basis: str
    promotion: Promotion | None
    served: ServeStats | None
    graph_served: int
    serve_note: str
    #: Where the served items' names and prices came from (empty when nothing was served).
    catalogue_note: str = ""


class Steps:
    """Progress bar tasks when a Rich ``Progress`` is given; silent otherwise."""

    def __init__(self, progress: Progress | None) -> None:
        self.progress = progress
        self._current: Any = None

    def start(self, description: str, total: float | None = None) -> Callable[[int], None]:
        """Finish the previous task, start a new one; returns its ``advance``."""
        progress = self.progress
        if progress is None:
            return lambda _n: None
        if self._current is not None:
            task = progress.tasks[-1]
            progress.update(self._current, completed=task.total or 1, total=task.total or 1)
        task_id = progress.add_task(description, total=total)
        self._current = task_id
        return lambda n: progress.advance(task_id, n)

    def done(self) -> None:
        """Complete the last task."""
        self.start("done", 1)(1)


def load(settings: Settings, path: Path | None) -> Interactions:
    """The given table, or gold ``interactions_customer_product``."""
    if path is not None:
        return load_interactions(path)
    gold = gold_path(settings.lakehouse.root)
    if not gold.exists():
        raise InteractionsError(
            f"gold table {gold} is not built; build the lakehouse gold tables first, or pass "
            "--interactions PATH (columns user, item, weight, timestamp)"
        )
    return load_interactions(gold)


def load_products(settings: Settings, config: TrainConfig) -> Catalogue:
    """The given catalogue, or gold's; lists are served without names while gold has none."""
    if config.catalogue is not None:
        return load_catalogue(config.catalogue)
    return load_catalogue(gold_catalogue_path(settings.lakehouse.root), required=False)


def check_services(settings: Settings, config: TrainConfig) -> None:
    """Fail fast, before Spark starts, when a service this run needs is down."""
    from paystream.stores.mlflow import client

    client(settings.mlflow)
    if config.serve:
        redis_client(settings.redis).close()
        if config.graph:
            with GraphCooccurrenceRecommender(settings.gremlin, _graph_ns(settings, config)) as g:
                g.ping()


def _graph_ns(settings: Settings, config: TrainConfig) -> str:
    namespace = config.namespace or settings.streams.namespace
    return config.graph_namespace or f"{namespace}:"


def split_tag(split: Split) -> str:
    """Identifies the split, so a champion's logged score is reused only on the same one."""
    return f"temporal:test_weeks={split.test_weeks}:cutoff={split.cutoff.isoformat()}"


def run(
    settings: Settings,
    config: TrainConfig,
    *,
    spark: SparkSession | None = None,
    progress: Progress | None = None,
) -> TrainResult:
    """Train, evaluate, log, register, maybe promote, maybe serve. See the module doc."""
    steps = Steps(progress)
    steps.start("loading interactions")
    data = load(settings, config.interactions)
    products = Catalogue({}, "not served")
    if config.serve:
        # Fail before Spark starts: lists of a table without merchants have no audience.
        audience(str(data.frame["user"].iloc[0]), config.merchant)
        products = load_products(settings, config)
    split = temporal_split(data.frame, config.test_weeks)
    check_services(settings, config)
    if spark is None:
        from paystream.stores.spark import build_spark

        steps.start("starting Spark")
        spark = build_spark(settings.lakehouse, "paystream-recommender")
    catalogue = data.items
    models = {
        "popularity": PopularityRecommender(),
        "cooccurrence": CooccurrenceRecommender(),
        "als": ALSRecommender(spark, config.als),
    }
    test_users = len(split.truth())
    advance = steps.start("fitting and evaluating models", len(models) * test_users)
    evaluation = evaluate_models(models, split, k=K, catalogue_size=catalogue, advance=advance)

    champion_value, basis = None, "promotion not requested"
    if config.promote:
        steps.start("scoring the champion on the same split")
        champion = champion_run(settings.mlflow, config.model_name)
        champion_value, basis = champion_score(champion, data, split, spark, catalogue)

    steps.start("refitting ALS on all interactions")
    final = ALSRecommender(spark, config.als)
    final.fit(data.frame)
    assert final.model is not None
    popular = PopularityRecommender()
    popular.fit(data.frame)

    steps.start("logging to MLflow and registering")
    params: dict[str, Any] = {
        "interactions": data.source,
        "rows": len(data.frame),
        "users": data.users,
        "items": catalogue,
        "test_weeks": config.test_weeks,
        "cutoff": split.cutoff.isoformat(),
        "train_rows": len(split.train),
        "test_users": test_users,
        "k": K,
        "top_n": config.top_n,
        **config.als.as_params(),
    }
    logged = log_run(
        settings.mlflow,
        experiment=config.experiment,
        params=params,
        evaluation=evaluation,
        data_version=data.version,
        split_tag=split_tag(split),
        model=final.model,
    )
    from paystream.stores.mlflow import promote_if_better, register

    version = register(settings.mlflow, logged.model_uri, config.model_name)
    promotion = None
    if config.promote:
        challenger = evaluation.metrics["als"][PRIMARY]
        promotion = promote_if_better(
            settings.mlflow, config.model_name, version, PRIMARY, challenger, champion_value
        )

    served, graph_served, note = None, 0, "serving not requested"
    if config.serve and promotion is not None and not promotion.promoted:
        note = "not promoted: the champion's served lists stay in place"
    elif config.serve:
        made_by = Served(config.model_name, version)
        served, graph_served = serve(
            settings, config, made_by, final.model, popular, steps, products
        )
        note = f"served by {config.model_name} v{version}"
    steps.done()
    return TrainResult(
        data=data,
        split=split,
        evaluation=evaluation,
        run_id=logged.run_id,
        version=version,
        champion_value=champion_value,
        champion_basis=basis,
        promotion=promotion,
        served=served,
        graph_served=graph_served,
        serve_note=note,
        catalogue_note=products.note() if served is not None else "",
    )


def champion_score(
    champion: ChampionRun | None,
    data: Interactions,
    split: Split,
    spark: SparkSession,
    catalogue: int,
) -> tuple[float | None, str]:
    """The champion's nDCG@10 on this run's split, and how it was obtained.

    Reuses the champion run's logged value when it was measured on the same data version and
    split; otherwise refits the champion's logged ALS parameters on this split's training
    part (the registered champion itself was refitted on all its data, so scoring it on
    this test window would leak) and evaluates that.
    """
    if champion is None:
        return None, "no champion yet"
    same = champion.data_version == data.version and champion.split == split_tag(split)
    if same and champion.ndcg is not None:
        return champion.ndcg, f"champion v{champion.version}'s logged {PRIMARY} (same data, split)"
    model = ALSRecommender(spark, champion.als_params)
    result = evaluate_models({"als": model}, split, k=K, catalogue_size=catalogue)
    return (
        result.metrics["als"][PRIMARY],
        f"champion v{champion.version}'s parameters refitted on this split",
    )


def _chunks(users: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(users), size):
        yield users[start : start + size]


def serve(
    settings: Settings,
    config: TrainConfig,
    served: Served,
    model: FactorModel,
    popular: PopularityRecommender,
    steps: Steps,
    products: Catalogue | None = None,
) -> tuple[ServeStats, int]:
    """Score every known customer into Redis, then the popular and the graph lists, each
    item with its name and price at the list's merchant from ``products``."""
    shown = products if products is not None else Catalogue({}, "none")
    client = redis_client(settings.redis)
    keys = ServedKeys(config.namespace or settings.streams.namespace)
    users = [str(u) for u in model.users]
    merchants = sorted({audience(u, config.merchant)[0] for u in users})
    scoped_data = any(unscoped(u)[0] is not None for u in users)
    advance = steps.start("scoring customers into Redis", len(users))

    def lists() -> Iterator[tuple[Audience, list[RecommendedItem]]]:
        for chunk in _chunks(users, config.chunk_size):
            for user, items in model.recommend_many(chunk, config.top_n).items():
                merchant, customer = audience(user, config.merchant)
                yield (merchant, customer), [shown.describe(merchant, _plain(i)) for i in items]

    stats = write_recommendations(
        client, keys, served, lists(), chunk_size=config.chunk_size, advance=advance
    )
    for merchant in merchants:
        scope = merchant if scoped_data else None
        items = [shown.describe(merchant, _plain(i)) for i in popular.popular(config.top_n, scope)]
        write_popular(client, keys, served, merchant, items)
    graph_served = 0
    if config.graph and len(merchants) == 1:
        # The live graph's BOUGHT edges carry no merchant, so its co-occurrence is served
        # only when the data is one merchant's (docs/recommender.md); each found item must
        # still be in that merchant's catalogue.
        steps.start("graph co-occurrence for customers new since training")
        merchant = merchants[0]
        sold = {audience(str(i), config.merchant)[1] for i in model.items}
        with GraphCooccurrenceRecommender(settings.gremlin, _graph_ns(settings, config)) as graph:
            known = {audience(u, config.merchant)[1] for u in users}
            fresh = [c for c in graph.customers_with_history() if c not in known]
            found = recommend_for(graph, fresh[: config.max_graph_customers], config.top_n)
        scoped_found = {
            (merchant, customer): [shown.describe(merchant, i) for i in items if i.item_id in sold]
            for customer, items in found.items()
        }
        graph_served = write_recommendations(client, keys, served, scoped_found).customers
    client.close()
    return stats, graph_served


def audience(user: str, merchant: str | None) -> Audience:
    """``(merchant, customer)`` of a model's user key.

    Raises:
        InteractionsError: the table had no ``merchant_id`` column and no ``--merchant``
            says whose customers they are.
    """
    scope, customer = unscoped(user)
    found = scope or merchant
    if found is None:
        raise InteractionsError(
            "lists are served per merchant: the interactions table has no merchant_id column, "
            "so pass --merchant M to say whose customers and products it holds"
        )
    return found, customer


def _plain(item: RecommendedItem) -> RecommendedItem:
    # Served lists name the merchant's own item ids, without the training scope.
    return item.model_copy(update={"item_id": unscoped(item.item_id)[1]})


def describe(config: TrainConfig) -> dict[str, Any]:
    """The config as plain values (for printing)."""
    values = asdict(config)
    values["interactions"] = str(config.interactions) if config.interactions else "gold"
    return values

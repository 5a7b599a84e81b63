"""Implicit-feedback ALS: trained with Spark MLlib, scored with numpy.

Spark fits the factors (it scales out to a cluster by settings alone); the fitted user and
item factors are then collected into a :class:`FactorModel`, a plain numpy object that
scores, saves and loads without a JVM. The MLflow model and the batch scorer both use it,
so what is evaluated is exactly what is served.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd
from scipy import sparse

from ml.recommender.data import Matrix, ScopeMask
from ml.recommender.models import Recommender, top_k
from paystream.contracts.served import RecommendedItem

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


@dataclass(frozen=True)
class ALSParams:
    """Hyper-parameters of implicit ALS (Hu, Koren & Volinsky 2008).

    ``alpha`` scales confidence (``1 + alpha * r``); ``weight_transform`` turns the raw
    weight into ``r``: ``log1p`` tames bulk orders (one wholesale line of 80,000 units would
    otherwise drown everything else), ``raw`` uses it as is.
    """

    rank: int = 64
    reg_param: float = 0.5
    alpha: float = 2.0
    max_iter: int = 10
    seed: int = 42
    weight_transform: Literal["log1p", "raw"] = "log1p"

    def as_params(self) -> dict[str, str | int | float]:
        """MLflow params (prefixed so they do not clash with the run's other params)."""
        return {f"als_{k}": v for k, v in asdict(self).items()}

    @classmethod
    def from_params(cls, params: dict[str, str]) -> ALSParams:
        """Inverse of :meth:`as_params` from a run's logged (string) params."""
        default = cls()
        return cls(
            rank=int(params.get("als_rank", default.rank)),
            reg_param=float(params.get("als_reg_param", default.reg_param)),
            alpha=float(params.get("als_alpha", default.alpha)),
            max_iter=int(params.get("als_max_iter", default.max_iter)),
            seed=int(params.get("als_seed", default.seed)),
            weight_transform="raw" if params.get("als_weight_transform") == "raw" else "log1p",
        )


@dataclass
class FactorModel:
    """Fitted factors with their id maps and each user's history (for exclusion)."""

    users: np.ndarray
    items: np.ndarray
    user_factors: np.ndarray
    item_factors: np.ndarray
    seen: sparse.csr_matrix

    def __post_init__(self) -> None:
        self.user_index = {str(u): i for i, u in enumerate(self.users)}
        self.scope = ScopeMask(self.items)

    def recommend_many(
        self, users: Sequence[str], k: int = 10, exclude_seen: bool = True, batch_size: int = 1024
    ) -> dict[str, list[RecommendedItem]]:
        """Top ``k`` by dot product; users the model never saw get an empty list."""
        result: dict[str, list[RecommendedItem]] = {u: [] for u in users}
        known = [u for u in users if u in self.user_index]
        for start in range(0, len(known), batch_size):
            batch = known[start : start + batch_size]
            rows = np.array([self.user_index[u] for u in batch], dtype=np.int64)
            scores = self.user_factors[rows] @ self.item_factors.T
            for n, user in enumerate(batch):
                seen = self._seen(rows[n]) if exclude_seen else None
                seen = self.scope.exclude(user, seen)
                result[user] = [
                    RecommendedItem(
                        item_id=str(self.items[i]), score=float(scores[n, i]), source="als"
                    )
                    for i in top_k(scores[n], k, seen)
                ]
        return result

    def _seen(self, row: int) -> np.ndarray:
        start, end = self.seen.indptr[row], self.seen.indptr[row + 1]
        return np.asarray(self.seen.indices[start:end], dtype=np.int64)

    def save(self, folder: Path) -> Path:
        """Write ``factors.npz`` and ``ids.json`` into ``folder``."""
        folder.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(
            folder / "factors.npz",
            user_factors=self.user_factors,
            item_factors=self.item_factors,
            seen_indptr=self.seen.indptr,
            seen_indices=self.seen.indices,
        )
        ids = {"users": [str(u) for u in self.users], "items": [str(i) for i in self.items]}
        (folder / "ids.json").write_text(json.dumps(ids))
        return folder

    @classmethod
    def load(cls, folder: Path) -> FactorModel:
        """Read a model written by :meth:`save`."""
        ids = json.loads((folder / "ids.json").read_text())
        with np.load(folder / "factors.npz") as data:
            users = np.array(ids["users"], dtype=object)
            items = np.array(ids["items"], dtype=object)
            seen = sparse.csr_matrix(
                (
                    np.ones(len(data["seen_indices"]), dtype=np.float32),
                    data["seen_indices"],
                    data["seen_indptr"],
                ),
                shape=(len(users), len(items)),
            )
            return cls(users, items, data["user_factors"], data["item_factors"], seen)


class ALSRecommender(Recommender):
    """Spark MLlib ALS in implicit mode behind the :class:`Recommender` interface."""

    source = "als"

    def __init__(self, spark: SparkSession, params: ALSParams | None = None) -> None:
        self.spark = spark
        self.params = params or ALSParams()
        self.model: FactorModel | None = None

    def fit(self, interactions: pd.DataFrame) -> None:
        """Fit on Spark, then collect the factors (ordered by index, hence deterministic)."""
        from pyspark.ml.recommendation import ALS

        matrix = Matrix.from_frame(interactions)
        coo = matrix.weights.tocoo()
        rating = np.log1p(coo.data) if self.params.weight_transform == "log1p" else coo.data
        frame = pd.DataFrame(
            {
                "user": coo.row.astype(np.int32),
                "item": coo.col.astype(np.int32),
                "rating": rating.astype(np.float32),
            }
        )
        # A fixed partition count keeps the fit independent of the machine's core count.
        ratings = self.spark.createDataFrame(frame).repartition(4, "user")
        als = ALS(
            rank=self.params.rank,
            regParam=self.params.reg_param,
            alpha=self.params.alpha,
            maxIter=self.params.max_iter,
            seed=self.params.seed,
            implicitPrefs=True,
            userCol="user",
            itemCol="item",
            ratingCol="rating",
            numUserBlocks=4,
            numItemBlocks=4,
            coldStartStrategy="drop",
        )
        fitted = als.fit(ratings)
        self.model = FactorModel(
            matrix.users,
            matrix.items,
            _factors(fitted.userFactors.toPandas(), len(matrix.users), self.params.rank),
            _factors(fitted.itemFactors.toPandas(), len(matrix.items), self.params.rank),
            (matrix.weights > 0).astype(np.float32).tocsr(),
        )

    def recommend(self, user: str, k: int = 10, exclude_seen: bool = True) -> list[RecommendedItem]:
        """Top ``k`` for one user (empty for a user the model never saw)."""
        return self.recommend_many([user], k, exclude_seen)[user]

    def recommend_many(
        self, users: Sequence[str], k: int = 10, exclude_seen: bool = True
    ) -> dict[str, list[RecommendedItem]]:
        """Batched numpy scoring of the collected factors."""
        if self.model is None:
            from ml.recommender.models import NotFittedError

            raise NotFittedError("call fit() before recommend()")
        return self.model.recommend_many(users, k, exclude_seen)


def _factors(frame: pd.DataFrame, count: int, rank: int) -> np.ndarray:
    out = np.zeros((count, rank), dtype=np.float32)
    ids = frame["id"].to_numpy(dtype=np.int64)
    out[ids] = np.stack(frame["features"].to_numpy()).astype(np.float32)
    return out

"""The recommender interface and the models that need no JVM: popularity and co-occurrence.

Every model is fitted on a cleaned interactions frame (see :mod:`.data`) and answers
``recommend(user, k, exclude_seen)`` with items ranked best first. Ties break by item id,
so a fitted model always gives the same list.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import sparse

from ml.recommender.data import Matrix, ScopeMask, scoped
from paystream.contracts.served import RecommendedItem
from paystream.errors import PaystreamError


class NotFittedError(PaystreamError, RuntimeError):
    """``recommend`` was called before ``fit``."""


class Recommender(ABC):
    """A fitted model ranks items for a user; ``source`` names it in served results."""

    source: str = "model"

    @abstractmethod
    def fit(self, interactions: pd.DataFrame) -> None:
        """Learn from a cleaned interactions frame (user, item, weight, timestamp)."""

    @abstractmethod
    def recommend(self, user: str, k: int = 10, exclude_seen: bool = True) -> list[RecommendedItem]:
        """The top ``k`` items for ``user``, best first; empty when the model cannot rank
        for this user (e.g. a user it never saw)."""

    def recommend_many(
        self, users: Sequence[str], k: int = 10, exclude_seen: bool = True
    ) -> dict[str, list[RecommendedItem]]:
        """:meth:`recommend` for many users (models override this with a batched version)."""
        return {user: self.recommend(user, k, exclude_seen) for user in users}


def top_k(scores: np.ndarray, k: int, excluded: np.ndarray | None = None) -> np.ndarray:
    """Indices of the ``k`` highest finite scores, best first, ties by lower index.

    ``excluded`` indices are never returned; neither are scores of ``-inf``.
    """
    scores = np.array(scores, dtype=np.float64, copy=True)
    if excluded is not None and excluded.size:
        scores[excluded] = -np.inf
    candidates = np.arange(scores.size)
    if k < scores.size:
        # Keep every item scoring at least the k-th best (ties included), then sort only those.
        threshold = np.partition(scores, scores.size - k)[scores.size - k]
        candidates = np.flatnonzero(scores >= threshold)
    # Stable sort on the negated scores keeps the lower (sorted-id) index first on ties.
    order = candidates[np.argsort(-scores[candidates], kind="stable")]
    order = order[np.isfinite(scores[order])]
    top: np.ndarray = order[:k]
    return top


def _fitted_matrix(matrix: Matrix | None) -> Matrix:
    if matrix is None:
        raise NotFittedError("call fit() before recommend()")
    return matrix


class PopularityRecommender(Recommender):
    """The baseline: items bought by the most distinct users, the same list for everyone."""

    source = "popularity"

    def __init__(self) -> None:
        self.matrix: Matrix | None = None
        self._mask: ScopeMask | None = None
        self.scores = np.empty(0)

    def fit(self, interactions: pd.DataFrame) -> None:
        """Count distinct buyers per item (weights would let one bulk buyer dominate)."""
        self.matrix = Matrix.from_frame(interactions)
        self._mask = ScopeMask(self.matrix.items)
        self.scores = np.asarray((self.matrix.weights > 0).sum(axis=0), dtype=np.float64).ravel()

    def recommend(self, user: str, k: int = 10, exclude_seen: bool = True) -> list[RecommendedItem]:
        """The most popular items the user has not bought (all of them for an unknown user)."""
        matrix = _fitted_matrix(self.matrix)
        seen = matrix.seen(user) if exclude_seen else None
        if user and self._mask is not None:
            seen = self._mask.exclude(user, seen)
        return [
            RecommendedItem(
                item_id=str(matrix.items[i]), score=float(self.scores[i]), source=self.source
            )
            for i in top_k(self.scores, k, seen)
        ]

    def popular(self, k: int, merchant_id: str | None = None) -> list[RecommendedItem]:
        """The cold-start list: the ``k`` most popular items (of one merchant, if given)."""
        if merchant_id is None:
            return self.recommend("", k, exclude_seen=False)
        return self.recommend(scoped(merchant_id, ""), k, exclude_seen=False)


class CooccurrenceRecommender(Recommender):
    """ "Bought X, also bought Y": an item scores the number of (other customer, item you
    bought) pairs where that customer also bought it.

    The offline twin of :class:`ml.recommender.graph.GraphCooccurrenceRecommender`, which
    counts the same paths ``you -BOUGHT-> x <-BOUGHT- other -BOUGHT-> y`` live in the graph;
    this one is evaluated on the temporal split, the graph one serves new customers.
    """

    source = "graph"

    def __init__(self, batch_size: int = 512) -> None:
        self.matrix: Matrix | None = None
        self.bought = sparse.csr_matrix((0, 0))
        self.cooccurrence = sparse.csr_matrix((0, 0))
        self.batch_size = batch_size

    def fit(self, interactions: pd.DataFrame) -> None:
        """Build the item × item co-buyer counts."""
        self.matrix = Matrix.from_frame(interactions)
        self.bought = (self.matrix.weights > 0).astype(np.float64).tocsr()
        self.cooccurrence = (self.bought.T @ self.bought).tocsr()

    def recommend(self, user: str, k: int = 10, exclude_seen: bool = True) -> list[RecommendedItem]:
        """Items most co-bought with the user's items; empty for a user without history."""
        return self.recommend_many([user], k, exclude_seen).get(user, [])

    def recommend_many(
        self, users: Sequence[str], k: int = 10, exclude_seen: bool = True
    ) -> dict[str, list[RecommendedItem]]:
        """Score users in batches of sparse products."""
        matrix = _fitted_matrix(self.matrix)
        known = [u for u in users if u in matrix.user_index]
        result: dict[str, list[RecommendedItem]] = {u: [] for u in users}
        for start in range(0, len(known), self.batch_size):
            batch = known[start : start + self.batch_size]
            rows = self.bought[[matrix.user_index[u] for u in batch]]
            scores = np.asarray((rows @ self.cooccurrence).todense(), dtype=np.float64)
            for n, user in enumerate(batch):
                seen = matrix.seen(user)
                # The user's own paths (you -> x <- you -> y) add |history| to each item
                # they bought; the graph query skips them, so do the same here.
                scores[n, seen] -= seen.size
                # An item nobody else co-bought is not a recommendation.
                scores[n, scores[n] <= 0] = -np.inf
                picked = top_k(scores[n], k, seen if exclude_seen else None)
                result[user] = [
                    RecommendedItem(
                        item_id=str(matrix.items[i]), score=float(scores[n, i]), source=self.source
                    )
                    for i in picked
                ]
        return result

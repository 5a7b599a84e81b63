"""Ranking metrics at a cut-off ``k``, with binary relevance. Pure functions, no I/O.

``recommended`` is a ranked list (best first); ``relevant`` the items the user actually
interacted with in the test window. Per-user values are averaged over users by
:func:`ranking_metrics`; a user with nothing relevant is not evaluated (callers only pass
users with test items).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence


def precision_at_k(recommended: Sequence[str], relevant: set[str], k: int) -> float:
    """Share of the top ``k`` slots that hold a relevant item (empty slots count as misses)."""
    _check_k(k)
    hits = sum(1 for item in recommended[:k] if item in relevant)
    return hits / k


def recall_at_k(recommended: Sequence[str], relevant: set[str], k: int) -> float:
    """Share of the relevant items found in the top ``k``."""
    _check_k(k)
    if not relevant:
        return 0.0
    hits = sum(1 for item in recommended[:k] if item in relevant)
    return hits / len(relevant)


def ndcg_at_k(recommended: Sequence[str], relevant: set[str], k: int) -> float:
    """Discounted cumulative gain of the top ``k`` over the best achievable one.

    A hit at rank ``r`` (1-based) gains ``1 / log2(r + 1)``; the ideal ranking puts
    ``min(|relevant|, k)`` hits first.
    """
    _check_k(k)
    dcg = sum(
        1.0 / math.log2(rank + 2) for rank, item in enumerate(recommended[:k]) if item in relevant
    )
    ideal = sum(1.0 / math.log2(rank + 2) for rank in range(min(len(relevant), k)))
    return dcg / ideal if ideal else 0.0


def average_precision_at_k(recommended: Sequence[str], relevant: set[str], k: int) -> float:
    """Mean of precision@r over the ranks ``r`` of the hits, over ``min(|relevant|, k)``."""
    _check_k(k)
    hits = 0
    total = 0.0
    for rank, item in enumerate(recommended[:k], start=1):
        if item in relevant:
            hits += 1
            total += hits / rank
    denominator = min(len(relevant), k)
    return total / denominator if denominator else 0.0


def catalogue_coverage(lists: Iterable[Sequence[str]], catalogue_size: int, k: int) -> float:
    """Share of the catalogue that appears in at least one top-``k`` list."""
    _check_k(k)
    if catalogue_size <= 0:
        return 0.0
    shown = {item for ranked in lists for item in ranked[:k]}
    return len(shown) / catalogue_size


def ranking_metrics(
    recommendations: Mapping[str, Sequence[str]],
    truth: Mapping[str, set[str]],
    catalogue_size: int,
    k: int = 10,
) -> dict[str, float]:
    """Precision, recall, nDCG and MAP at ``k`` averaged over the users of ``truth``, plus
    catalogue coverage. A user without recommendations counts as all misses."""
    _check_k(k)
    users = sorted(truth)
    if not users:
        raise ValueError("no user to evaluate")
    sums = {"precision": 0.0, "recall": 0.0, "ndcg": 0.0, "map": 0.0}
    for user in users:
        ranked, relevant = recommendations.get(user, ()), truth[user]
        sums["precision"] += precision_at_k(ranked, relevant, k)
        sums["recall"] += recall_at_k(ranked, relevant, k)
        sums["ndcg"] += ndcg_at_k(ranked, relevant, k)
        sums["map"] += average_precision_at_k(ranked, relevant, k)
    result = {f"{name}_at_{k}": total / len(users) for name, total in sums.items()}
    result["coverage"] = catalogue_coverage(
        (recommendations.get(u, ()) for u in users), catalogue_size, k
    )
    return result


def _check_k(k: int) -> None:
    if k < 1:
        raise ValueError(f"k must be at least 1, not {k}")

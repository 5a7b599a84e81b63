"""Fraud model metrics: pure functions on labels and scores, no I/O.

Every figure is reported for the model beside the rules-only baseline (the ``rules_score``
the risk agent logs with each decision), on the same holdout, so a number never stands
alone. Conventions:

* a payment is *flagged* at threshold ``t`` when ``score >= t``;
* precision of an empty flagged set is ``NaN`` (undefined, not zero);
* Card Precision@k follows the Fraud Detection Handbook (Le Borgne et al., ch. 4): per day,
  rank cards by their highest score that day, take the top ``k``, count those with at least
  one fraudulent transaction that day, divide by ``k``; average over the days. Dividing by
  ``k`` even when a day has fewer cards is the Handbook's choice: an investigator team that
  can check ``k`` cards a day is judged on the whole of its capacity.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import asdict, dataclass
from datetime import date

import numpy as np
import numpy.typing as npt
from sklearn.metrics import average_precision_score, precision_recall_curve

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int_]


@dataclass(frozen=True)
class Thresholds:
    """Operating thresholds on a score: review at or above one, decline at or above the other.

    ``decline_threshold`` is 1.0 when no threshold reached the precision target: the model
    then never declines on its own, it only sends payments to review.
    """

    review_threshold: float
    decline_threshold: float
    decline_precision_met: bool
    review_recall_met: bool


@dataclass(frozen=True)
class Scorecard:
    """One scorer's figures on one set of payments."""

    auc_pr: float
    precision_at_decline: float
    recall_at_decline: float
    precision_at_review: float
    recall_at_review: float
    card_precision_at_k: float

    def as_metrics(self, prefix: str) -> dict[str, float]:
        """Finite figures as MLflow metrics named ``<prefix>_<figure>``."""
        return {f"{prefix}_{k}": v for k, v in asdict(self).items() if math.isfinite(v)}


def _arrays(
    labels: Sequence[int] | IntArray, scores: Sequence[float] | FloatArray
) -> tuple[IntArray, FloatArray]:
    y = np.asarray(labels, dtype=np.int_)
    s = np.asarray(scores, dtype=np.float64)
    if y.shape != s.shape or y.ndim != 1:
        raise ValueError(f"labels {y.shape} and scores {s.shape} must be 1-d of equal length")
    return y, s


def average_precision(
    labels: Sequence[int] | IntArray, scores: Sequence[float] | FloatArray
) -> float:
    """AUC-PR as average precision (step-wise, no interpolation).

    Raises:
        ValueError: there is no positive label, so the area is undefined.
    """
    y, s = _arrays(labels, scores)
    if not y.any():
        raise ValueError("AUC-PR is undefined without a positive label")
    return float(average_precision_score(y, s))


def precision_recall_at(
    labels: Sequence[int] | IntArray, scores: Sequence[float] | FloatArray, threshold: float
) -> tuple[float, float]:
    """Precision and recall of flagging every score ``>= threshold``."""
    y, s = _arrays(labels, scores)
    flagged = s >= threshold
    hits = int((flagged & (y == 1)).sum())
    precision = hits / int(flagged.sum()) if flagged.any() else math.nan
    positives = int(y.sum())
    recall = hits / positives if positives else math.nan
    return precision, recall


def card_precision_per_day(
    days: Sequence[date],
    cards: Sequence[str],
    labels: Sequence[int] | IntArray,
    scores: Sequence[float] | FloatArray,
    k: int = 100,
    *,
    known: Callable[[date], AbstractSet[str]] | None = None,
    drop_detected: bool = False,
) -> dict[date, float]:
    """Card Precision@k of each day (see the module docstring for the definition).

    ``known(day)`` names cards already known to be compromised on ``day``; they leave that
    day's ranking, as investigators would not be asked about them again. With
    ``drop_detected`` a fraudulent card found in one day's top k also leaves every later day
    (the Fraud Detection Handbook's ``card_precision_top_k``).
    """
    y, s = _arrays(labels, scores)
    if not len(days) == len(cards) == len(y):
        raise ValueError("days, cards, labels and scores must have equal length")
    if k < 1:
        raise ValueError("k must be at least 1")
    # Per (day, card): the highest score and whether any transaction was fraud.
    best: dict[date, dict[str, tuple[float, int]]] = {}
    for day, card, label, score in zip(days, cards, y.tolist(), s.tolist(), strict=True):
        if not isinstance(card, str) or not card:
            # Wallet and FPS payments have no card: they cannot rank in a per-card metric.
            continue
        cards_of_day = best.setdefault(day, {})
        old_score, old_label = cards_of_day.get(card, (-math.inf, 0))
        cards_of_day[card] = (max(old_score, score), max(old_label, int(label)))
    result: dict[date, float] = {}
    detected: set[str] = set()
    for day, cards_of_day in sorted(best.items()):
        gone = detected | set(known(day) if known is not None else ())
        candidates = [kv for kv in cards_of_day.items() if kv[0] not in gone]
        # Ties broken by card id, so the figure is deterministic.
        ranked = sorted(candidates, key=lambda kv: (-kv[1][0], kv[0]))[:k]
        result[day] = sum(label for _, (_, label) in ranked) / k
        if drop_detected:
            detected.update(card for card, (_, label) in ranked if label)
    return result


def card_precision_at_k(
    days: Sequence[date],
    cards: Sequence[str],
    labels: Sequence[int] | IntArray,
    scores: Sequence[float] | FloatArray,
    k: int = 100,
) -> float:
    """Card Precision@k averaged over the days (``NaN`` when there is no day)."""
    per_day = card_precision_per_day(days, cards, labels, scores, k)
    return float(np.mean(list(per_day.values()))) if per_day else math.nan


def pick_thresholds(
    labels: Sequence[int] | IntArray,
    scores: Sequence[float] | FloatArray,
    decline_precision: float = 0.8,
    review_recall: float = 0.8,
) -> Thresholds:
    """Operating thresholds chosen on validation data.

    Decline at the lowest threshold whose precision reaches ``decline_precision`` (catching
    the most fraud at that precision); review at the highest threshold whose recall still
    reaches ``review_recall`` (the fewest reviews for that recall). Review never sits above
    decline.

    Raises:
        ValueError: there is no positive label to choose thresholds from.
    """
    y, s = _arrays(labels, scores)
    if not y.any():
        raise ValueError("thresholds need at least one positive label")
    precision, recall, cuts = precision_recall_curve(y, s)
    # precision/recall have one more entry than cuts (the empty flagged set); drop it.
    precision, recall = precision[:-1], recall[:-1]
    ok_precision = np.flatnonzero(precision >= decline_precision)
    decline_met = bool(ok_precision.size)
    decline = float(cuts[ok_precision[0]]) if decline_met else 1.0
    ok_recall = np.flatnonzero(recall >= review_recall)
    review_met = bool(ok_recall.size)
    review = float(cuts[ok_recall[-1]]) if review_met else float(cuts[0])
    return Thresholds(min(review, decline), decline, decline_met, review_met)


def scorecard(
    labels: Sequence[int] | IntArray,
    scores: Sequence[float] | FloatArray,
    thresholds: Thresholds,
    days: Sequence[date],
    cards: Sequence[str],
    k: int = 100,
) -> Scorecard:
    """Every figure of one scorer on one set of payments."""
    p_decline, r_decline = precision_recall_at(labels, scores, thresholds.decline_threshold)
    p_review, r_review = precision_recall_at(labels, scores, thresholds.review_threshold)
    return Scorecard(
        auc_pr=average_precision(labels, scores),
        precision_at_decline=p_decline,
        recall_at_decline=r_decline,
        precision_at_review=p_review,
        recall_at_review=r_review,
        card_precision_at_k=card_precision_at_k(days, cards, labels, scores, k),
    )

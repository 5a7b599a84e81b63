"""Fraud metrics on small examples computed by hand."""

from __future__ import annotations

import math
from datetime import date

import pytest

from ml.fraud.evaluate import (
    Thresholds,
    average_precision,
    card_precision_at_k,
    card_precision_per_day,
    pick_thresholds,
    precision_recall_at,
    scorecard,
)

D1, D2 = date(2026, 1, 5), date(2026, 1, 6)


def test_average_precision_averages_the_precision_at_each_fraud_in_score_order():
    # Ranked: fraud (P=1/1), legit, fraud (P=2/3), legit -> (1 + 2/3) / 2.
    assert average_precision([1, 0, 1, 0], [0.9, 0.8, 0.7, 0.1]) == pytest.approx(5 / 6)


def test_average_precision_refuses_data_without_fraud():
    with pytest.raises(ValueError, match="positive"):
        average_precision([0, 0], [0.2, 0.4])


def test_precision_and_recall_count_scores_at_or_above_the_threshold():
    labels, scores = [1, 0, 1, 0], [0.9, 0.8, 0.7, 0.1]
    assert precision_recall_at(labels, scores, 0.8) == (0.5, 0.5)
    assert precision_recall_at(labels, scores, 0.7) == (2 / 3, 1.0)


def test_precision_of_flagging_nothing_is_undefined_and_recall_is_zero():
    precision, recall = precision_recall_at([1, 0], [0.3, 0.2], 0.95)
    assert math.isnan(precision)
    assert recall == 0.0


def test_card_precision_ranks_cards_by_their_best_score_of_the_day():
    days = [D1, D1, D1, D1, D2, D2, D2]
    cards = ["A", "A", "B", "C", "D", "E", "F"]
    labels = [0, 1, 0, 1, 1, 1, 0]
    scores = [0.9, 0.2, 0.8, 0.5, 0.9, 0.6, 0.3]
    # Day 1: A (max 0.9, had fraud) and B (0.8, none) are the top 2 -> 1/2; C is missed.
    # Day 2: D and E, both fraud -> 2/2.
    per_day = card_precision_per_day(days, cards, labels, scores, k=2)
    assert per_day == {D1: 0.5, D2: 1.0}
    assert card_precision_at_k(days, cards, labels, scores, k=2) == 0.75


def test_card_precision_counts_a_cards_fraud_only_on_the_day_it_happened():
    days = [D1, D2, D2]
    cards = ["A", "A", "B"]
    labels = [1, 0, 0]
    scores = [0.1, 0.9, 0.2]
    assert card_precision_per_day(days, cards, labels, scores, k=1) == {D1: 1.0, D2: 0.0}


def test_card_precision_divides_by_k_even_when_a_day_has_fewer_cards():
    # The Handbook's convention: one fraudulent card out of a capacity of 4 checks.
    assert card_precision_at_k([D1, D1], ["A", "B"], [1, 0], [0.9, 0.1], k=4) == 0.25


def test_pick_thresholds_declines_at_the_lowest_precise_cut_and_reviews_at_the_recall_cut():
    labels = [0, 0, 1, 0, 1, 1]
    scores = [0.1, 0.2, 0.3, 0.4, 0.8, 0.9]
    # Precision at >= 0.3 / 0.4 / 0.8 is 3/4, 2/3, 1; recall at >= 0.3 is 1, at >= 0.4 2/3.
    t = pick_thresholds(labels, scores, decline_precision=0.8, review_recall=0.8)
    assert (t.review_threshold, t.decline_threshold) == (0.3, 0.8)
    assert t.decline_precision_met and t.review_recall_met


def test_pick_thresholds_never_puts_review_above_decline():
    labels = [0, 0, 1, 0, 1, 1]
    scores = [0.1, 0.2, 0.3, 0.4, 0.8, 0.9]
    t = pick_thresholds(labels, scores, decline_precision=0.7, review_recall=0.5)
    # Decline at 0.3 (precision 3/4 >= 0.7); recall 0.5 alone would review from 0.8.
    assert t.decline_threshold == 0.3
    assert t.review_threshold == 0.3


def test_pick_thresholds_declines_nothing_when_the_precision_target_is_out_of_reach():
    t = pick_thresholds([1, 0, 1, 0], [0.9, 0.9, 0.1, 0.1], decline_precision=0.8)
    assert t.decline_threshold == 1.0
    assert not t.decline_precision_met


def test_scorecard_reports_every_figure_at_the_given_thresholds():
    card = scorecard(
        [1, 0, 1, 0],
        [0.9, 0.8, 0.7, 0.1],
        Thresholds(0.7, 0.85, True, True),
        [D1, D1, D2, D2],
        ["A", "B", "C", "D"],
        k=1,
    )
    assert card.auc_pr == pytest.approx(5 / 6)
    assert (card.precision_at_decline, card.recall_at_decline) == (1.0, 0.5)
    assert (card.precision_at_review, card.recall_at_review) == (2 / 3, 1.0)
    assert card.card_precision_at_k == 1.0  # A tops day 1, C tops day 2: both fraud
    assert set(card.as_metrics("holdout")) >= {"holdout_auc_pr", "holdout_card_precision_at_k"}


def test_card_precision_leaves_out_payments_without_a_card():
    day = date(2026, 1, 5)
    per_day = card_precision_per_day(
        [day, day, day], ["c1", None, float("nan")], [1, 1, 1], [0.9, 0.99, 0.98], k=2
    )
    assert per_day == {day: 0.5}

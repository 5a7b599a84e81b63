"""Ranking metrics against values worked out by hand."""

import math

import pytest

from ml.recommender.metrics import (
    average_precision_at_k,
    catalogue_coverage,
    ndcg_at_k,
    precision_at_k,
    ranking_metrics,
    recall_at_k,
)

# Hits at ranks 1 and 3 of 4; three relevant items, one (z) never recommended.
RANKED = ["a", "x", "b", "y"]
RELEVANT = {"a", "b", "z"}


def test_precision_counts_hits_over_k_slots_even_when_the_list_is_shorter():
    assert precision_at_k(RANKED, RELEVANT, 4) == 2 / 4
    assert precision_at_k(RANKED, RELEVANT, 2) == 1 / 2
    assert precision_at_k(RANKED, RELEVANT, 10) == 2 / 10


def test_recall_is_hits_over_relevant_items():
    assert recall_at_k(RANKED, RELEVANT, 4) == 2 / 3
    assert recall_at_k(RANKED, RELEVANT, 1) == 1 / 3
    assert recall_at_k(RANKED, set(), 4) == 0.0


def test_ndcg_discounts_hits_by_log2_of_rank_over_the_ideal_ranking():
    dcg = 1 / math.log2(2) + 1 / math.log2(4)  # hits at ranks 1 and 3
    ideal = 1 / math.log2(2) + 1 / math.log2(3) + 1 / math.log2(4)  # 3 relevant, k=4
    assert ndcg_at_k(RANKED, RELEVANT, 4) == pytest.approx(dcg / ideal)
    assert ndcg_at_k(["a", "b", "z"], RELEVANT, 3) == pytest.approx(1.0)
    assert ndcg_at_k(["x", "y"], RELEVANT, 2) == 0.0


def test_ndcg_ideal_is_capped_at_k_relevant_items():
    # One slot, a hit in it: perfect, although two more relevant items exist.
    assert ndcg_at_k(["a"], RELEVANT, 1) == 1.0


def test_average_precision_averages_precision_at_each_hit_over_min_relevant_k():
    assert average_precision_at_k(RANKED, RELEVANT, 4) == pytest.approx((1 / 1 + 2 / 3) / 3)
    assert average_precision_at_k(RANKED, RELEVANT, 2) == pytest.approx((1 / 1) / 2)
    assert average_precision_at_k(["x", "a"], {"a"}, 10) == pytest.approx(1 / 2)


def test_coverage_is_the_share_of_the_catalogue_in_any_top_k():
    lists = [["a", "b", "c"], ["a", "d"]]
    assert catalogue_coverage(lists, 10, 3) == 4 / 10
    assert catalogue_coverage(lists, 10, 1) == 1 / 10


def test_ranking_metrics_average_over_users_and_count_missing_users_as_misses():
    truth = {"u1": {"a"}, "u2": {"b", "c"}}
    recs = {"u1": ["a", "x"]}  # u2 got nothing
    result = ranking_metrics(recs, truth, catalogue_size=4, k=2)
    assert result == pytest.approx(
        {
            "precision_at_2": (1 / 2 + 0) / 2,
            "recall_at_2": (1 + 0) / 2,
            "ndcg_at_2": (1 + 0) / 2,
            "map_at_2": (1 + 0) / 2,
            "coverage": 2 / 4,
        }
    )


def test_k_below_one_is_rejected():
    with pytest.raises(ValueError, match="k must be"):
        precision_at_k(RANKED, RELEVANT, 0)

"""The recommender card regroups an MLflow run's flat metrics per model."""

from __future__ import annotations

from api.routes.dashboard import per_model


def test_per_model_sets_each_models_ranking_metrics_apart_from_its_fit_seconds():
    flat = {
        "als_ndcg_at_10": 0.21,
        "als_coverage": 0.4,
        "als_fit_s": 12.5,
        "popularity_ndcg_at_10": 0.12,
        "popularity_map_at_10": 0.05,
        "cooccurrence_precision_at_10": 0.08,
        "ndcg_at_10": 0.21,  # the run's headline copy of ALS's figure
        "ndcg_at_10_over_popularity": 1.75,
    }
    models, fit_s = per_model(flat)
    assert models == {
        "als": {"coverage": 0.4, "ndcg_at_10": 0.21},
        "cooccurrence": {"precision_at_10": 0.08},
        "popularity": {"map_at_10": 0.05, "ndcg_at_10": 0.12},
    }
    assert fit_s == {"als": 12.5}

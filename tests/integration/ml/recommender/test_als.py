"""Spark ALS on a few hundred Online Retail customers."""

from ml.recommender.als import ALSParams, ALSRecommender
from ml.recommender.data import load_interactions, temporal_split
from ml.recommender.evaluate import evaluate_models


def test_a_seeded_fit_gives_the_same_metrics_and_the_same_top_n_twice(spark, retail_parquet):
    data = load_interactions(retail_parquet)
    split = temporal_split(data.frame, test_weeks=4)
    models = [ALSRecommender(spark, ALSParams(rank=16, max_iter=5, seed=7)) for _ in range(2)]
    evaluations = [evaluate_models({"als": m}, split, catalogue_size=data.items) for m in models]
    assert evaluations[0].metrics == evaluations[1].metrics
    assert evaluations[0].metrics["als"]["ndcg_at_10"] > 0
    users = sorted(split.train["user"].unique())
    first, second = (m.recommend_many(users, 10) for m in models)
    assert first == second
    assert all(len(items) == 10 for items in first.values())

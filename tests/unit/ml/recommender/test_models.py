"""Popularity, in-memory co-occurrence and the numpy factor scorer on tiny hand-made data."""

import os
import subprocess
import sys
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
from scipy import sparse

from ml.recommender.als import ALSParams, FactorModel
from ml.recommender.models import (
    CooccurrenceRecommender,
    NotFittedError,
    PopularityRecommender,
    top_k,
)
from paystream.settings import REPO_ROOT

NOW = datetime(2024, 5, 1, tzinfo=UTC)
HISTORY = {
    "alice": ["mug", "tea"],
    "bob": ["mug", "tea", "spoon"],
    "carol": ["mug", "cake"],
    "dave": ["tea", "spoon", "plate"],
    "erin": ["lamp"],
}


def frame(history=HISTORY):
    rows = [(u, i, 1.0, NOW) for u, items in history.items() for i in items]
    return pd.DataFrame(rows, columns=["user", "item", "weight", "timestamp"])


def ranked(items):
    return [(i.item_id, i.score) for i in items]


def test_top_k_breaks_ties_by_index_and_skips_excluded_and_minus_infinity():
    scores = np.array([1.0, 3.0, 3.0, -np.inf, 2.0])
    assert top_k(scores, 3).tolist() == [1, 2, 4]
    assert top_k(scores, 10, np.array([2])).tolist() == [1, 4, 0]


def test_popularity_ranks_by_distinct_buyers_and_excludes_what_the_user_bought():
    model = PopularityRecommender()
    model.fit(frame())
    assert ranked(model.popular(3)) == [("mug", 3.0), ("tea", 3.0), ("spoon", 2.0)]
    assert ranked(model.recommend("alice", 2)) == [("spoon", 2.0), ("cake", 1.0)]
    assert ranked(model.recommend("stranger", 1)) == [("mug", 3.0)]


def test_cooccurrence_counts_paths_through_other_buyers():
    # alice: via bob (mug, tea) spoon x2, via carol (mug) cake, via dave (tea) spoon, plate.
    model = CooccurrenceRecommender()
    model.fit(frame())
    assert ranked(model.recommend("alice")) == [("spoon", 3.0), ("cake", 1.0), ("plate", 1.0)]
    assert ranked(model.recommend("dave")) == [("mug", 3.0)]
    assert model.recommend("erin") == [] and model.recommend("stranger") == []
    assert ranked(model.recommend("carol", exclude_seen=False)) == [
        ("mug", 2.0),
        ("tea", 2.0),
        ("spoon", 1.0),
    ]


def test_recommend_before_fit_is_an_error():
    with pytest.raises(NotFittedError):
        PopularityRecommender().recommend("alice")


def test_factor_model_ranks_by_dot_product_and_survives_save_and_load(tmp_path):
    model = FactorModel(
        users=np.array(["u1", "u2"], dtype=object),
        items=np.array(["a", "b", "c"], dtype=object),
        user_factors=np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32),
        item_factors=np.array([[0.9, 0.1], [0.2, 0.8], [0.5, 0.5]], dtype=np.float32),
        seen=sparse.csr_matrix(np.array([[1, 0, 0], [0, 0, 0]], dtype=np.float32)),
    )
    first = model.recommend_many(["u1", "u2", "nobody"], k=2)
    assert [i.item_id for i in first["u1"]] == ["c", "b"]  # a was bought
    assert [i.item_id for i in first["u2"]] == ["b", "c"]
    assert first["nobody"] == []
    loaded = FactorModel.load(model.save(tmp_path / "factors"))
    assert loaded.recommend_many(["u1", "u2"], k=2) == {u: first[u] for u in ("u1", "u2")}


def test_als_params_round_trip_through_logged_string_params():
    params = ALSParams(rank=8, reg_param=0.3, alpha=4.0, max_iter=3, seed=7, weight_transform="raw")
    logged = {k: str(v) for k, v in params.as_params().items()}
    assert ALSParams.from_params(logged) == params


def test_command_defaults_match_the_model_defaults():
    from typer.main import get_command

    from ml.commands.train import app

    options = {p.name: p.default for p in get_command(app).commands["recommender"].params}
    defaults = ALSParams()
    assert (options["rank"], options["reg_param"], options["alpha"], options["max_iter"]) == (
        defaults.rank,
        defaults.reg_param,
        defaults.alpha,
        defaults.max_iter,
    )
    assert options["seed"] == defaults.seed


def test_a_malformed_interactions_file_stops_the_command_with_one_clear_line(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("user,item,weight,timestamp\ncust-1,85123A,six,2011-01-01 10:00:00\n")
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "from cli.main import run; run()",
            "train",
            "recommender",
            "--interactions",
            str(bad),
        ],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=120,
        # Wide enough that Rich does not wrap the one-line error.
        env={**os.environ, "COLUMNS": "300"},
    )
    assert done.returncode == 2
    assert "weight must be numeric; row 1 has 'six'" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout


SCOPED = {
    "m1|alice": ["m1|mug", "m1|tea"],
    "m1|bob": ["m1|mug"],
    "m2|alice": ["m2|lamp"],
    "m2|carol": ["m2|lamp", "m2|rug", "m2|vase"],
    "m2|dave": ["m2|rug", "m2|vase"],
}


def test_scoped_lists_never_offer_another_merchant_s_items():
    model = PopularityRecommender()
    model.fit(frame(SCOPED))
    # m2's items are more popular overall, yet m1's customers see m1's catalogue only.
    assert {i.item_id for i in model.recommend("m1|bob", 10)} == {"m1|tea"}
    assert [i.item_id for i in model.popular(2, "m1")] == ["m1|mug", "m1|tea"]
    users = np.array(sorted(SCOPED), dtype=object)
    items = np.array(sorted({i for v in SCOPED.values() for i in v}), dtype=object)
    factors = FactorModel(
        users,
        items,
        np.ones((len(users), 2), dtype=np.float32),
        np.ones((len(items), 2), dtype=np.float32),
        sparse.csr_matrix((len(users), len(items))),
    )
    lists = factors.recommend_many(["m1|alice", "m2|alice"], 10)
    assert {i.item_id.split("|")[0] for i in lists["m1|alice"]} == {"m1"}
    assert {i.item_id.split("|")[0] for i in lists["m2|alice"]} == {"m2"}

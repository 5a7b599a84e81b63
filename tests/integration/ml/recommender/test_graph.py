"""Graph co-occurrence read from the real Gremlin Server, in a private namespace."""

from datetime import UTC, datetime

import pandas as pd
import pytest

from ml.recommender.graph import GraphCooccurrenceRecommender
from ml.recommender.models import CooccurrenceRecommender
from paystream.errors import ServiceUnavailableError
from streams.sinks.graph import GremlinGraphSink

HISTORY = {
    "alice": ["mug", "tea"],
    "bob": ["mug", "tea", "spoon"],
    "carol": ["mug", "cake"],
    "dave": ["tea", "spoon", "plate"],
    "erin": ["lamp"],
}


@pytest.fixture
def graph(stack, settings, unique, write_orders):
    namespace, other = f"{unique}:", f"{unique}x:"
    write_orders(namespace, HISTORY)
    # Another namespace where bob bought something else: it must not leak into results.
    write_orders(other, {"bob": ["intruder"], "alice": ["mug"]})
    recommender = GraphCooccurrenceRecommender(settings.gremlin, namespace)
    yield recommender
    recommender.close()
    for ns in (namespace, other):
        sink = GremlinGraphSink(settings.gremlin, namespace=ns)
        sink.purge_namespace()
        sink.close()


def ranked(items):
    return [(i.item_id, i.score, i.source) for i in items]


def test_bought_x_also_bought_y_counts_paths_through_other_customers(graph):
    # alice: via bob (mug and tea) spoon twice, via carol (mug) cake, via dave (tea) spoon, plate
    assert ranked(graph.recommend("alice")) == [
        ("spoon", 3.0, "graph"),
        ("cake", 1.0, "graph"),
        ("plate", 1.0, "graph"),
    ]
    assert ranked(graph.recommend("alice", k=1)) == [("spoon", 3.0, "graph")]
    assert ranked(graph.recommend("dave")) == [("mug", 3.0, "graph")]
    assert graph.recommend("erin") == [] and graph.recommend("stranger") == []


def test_graph_and_in_memory_cooccurrence_rank_identically(graph):
    rows = [
        (u, i, 1.0, datetime(2024, 5, 1, tzinfo=UTC)) for u, its in HISTORY.items() for i in its
    ]
    offline = CooccurrenceRecommender()
    offline.fit(pd.DataFrame(rows, columns=["user", "item", "weight", "timestamp"]))
    for user in HISTORY:
        for exclude in (True, False):
            assert ranked(graph.recommend(user, 10, exclude)) == ranked(
                offline.recommend(user, 10, exclude)
            )


def test_customers_with_history_lists_buyers_of_the_namespace_only(graph):
    assert graph.customers_with_history() == sorted(HISTORY)


def test_an_unreachable_graph_names_the_service(settings):
    gremlin = settings.gremlin.model_copy(update={"url": "ws://127.0.0.1:1/gremlin"})
    recommender = GraphCooccurrenceRecommender(gremlin, "nowhere:", timeout_s=5)
    with pytest.raises(ServiceUnavailableError, match="Gremlin Server.*paystream stack up"):
        recommender.recommend("alice")
    recommender.close()

"""The tinkerpop dialect's rows and requests, built without a server."""

import pytest
from gremlin_python.process.traversal import Direction, T
from gremlin_python.statics import long

from paystream.stores.gremlin import retry_after_s
from streams.sinks.graph_merge import (
    MERGE_E_PLAIN,
    MERGE_V,
    MERGE_V_PLAIN,
    build_merge_requests,
    merge_row,
)
from streams.sinks.graph_scripts import EdgeUpsert, VertexMark, VertexUpsert, build_requests


def test_a_vertex_row_matches_by_id_and_label_and_sets_properties_only_on_create():
    row = merge_row(
        VertexUpsert("n:customer:c1", "customer", (("country", "HK"),)),
        partition_key="pk",
        namespace="n:",
    )
    assert row["m"] == {T.id: "n:customer:c1", T.label: "customer"}
    assert row["c"] == {"pk": "n:customer:c1", "ns": "n:", "country": "HK"}
    assert row["p"] == {}


def test_an_edge_row_names_both_ends_and_resets_its_absolute_totals_on_match():
    edge = EdgeUpsert("PAID:a>b:HKD", "PAID", "a", "b", (("count", 2), ("amount_minor", 3**30)))
    row = merge_row(edge, partition_key="pk", namespace="n:")
    assert row["m"] == {
        T.id: "PAID:a>b:HKD",
        T.label: "PAID",
        Direction.OUT: "a",
        Direction.IN: "b",
    }
    assert row["p"] == {"count": 2, "amount_minor": 3**30}
    assert all(isinstance(v, long) for v in row["p"].values())
    assert row["c"]["ns"] == "n:"


def test_a_mark_sets_its_properties_on_an_existing_vertex_too():
    row = merge_row(
        VertexMark("n:customer:c1", "customer", (("fraud", 1),)), partition_key="pk", namespace="n:"
    )
    assert row["p"] == {"fraud": 1}
    assert row["c"]["fraud"] == 1


def test_rows_are_chunked_by_kind_and_size_keeping_their_order():
    vertices = [VertexUpsert(f"v{i}", "card") for i in range(5)]
    edges = [EdgeUpsert(f"e{i}", "USED", f"v{i}", "v0") for i in range(3)]
    requests = build_merge_requests(vertices + edges, partition_key="pk", namespace="", max_rows=2)
    assert [script for script, _ in requests] == [MERGE_V_PLAIN] * 3 + [MERGE_E_PLAIN] * 2
    assert [len(b["rows"]) for _, b in requests] == [2, 2, 1, 2, 1]
    assert [r[T.id] for _, b in requests[:3] for r in b["rows"]] == [f"v{i}" for i in range(5)]


def test_property_less_rows_travel_as_their_own_match_map_with_partition_key_and_namespace():
    (_, vertices), (_, edges) = build_merge_requests(
        [VertexUpsert("n:card:k", "card"), EdgeUpsert("e", "USED", "n:customer:c", "n:card:k")],
        partition_key="pk",
        namespace="n:",
    )
    assert vertices["rows"] == [{T.id: "n:card:k", T.label: "card", "pk": "n:card:k", "ns": "n:"}]
    assert edges["rows"] == [
        {
            T.id: "e",
            T.label: "USED",
            Direction.OUT: "n:customer:c",
            Direction.IN: "n:card:k",
            "ns": "n:",
        }
    ]


def test_rows_with_properties_use_the_create_and_match_maps():
    ((script, bindings),) = build_merge_requests(
        [VertexUpsert("n:customer:c", "customer", (("country", "HK"),))],
        partition_key="pk",
        namespace="n:",
    )
    assert script == MERGE_V
    assert bindings["rows"][0]["c"]["country"] == "HK"


def test_the_script_text_holds_no_value_and_unknown_labels_or_names_are_refused():
    ((script, bindings),) = build_merge_requests(
        [VertexUpsert("x'); g.V().drop(); ('", "customer")], partition_key="pk", namespace="n"
    )
    assert "drop" not in script and set(bindings) == {"rows"}
    with pytest.raises(ValueError, match="unknown vertex label"):
        merge_row(VertexUpsert("v", "person"), partition_key="pk", namespace="")
    with pytest.raises(ValueError, match="plain identifier"):
        merge_row(VertexUpsert("v", "card", (("x').drop()", 1),)), partition_key="pk", namespace="")


class _ThrottledError(Exception):
    def __init__(self, attributes):
        self.status_attributes = attributes


def test_a_cosmos_429_is_retried_after_the_wait_it_names_and_nothing_else_is():
    assert (
        retry_after_s(_ThrottledError({"x-ms-status-code": 429, "x-ms-retry-after-ms": "250"}))
        == 0.25
    )
    assert retry_after_s(_ThrottledError({"x-ms-status-code": "429"})) == 0.1
    assert (
        retry_after_s(_ThrottledError({"x-ms-status-code": 429, "x-ms-retry-after-ms": 60_000}))
        == 5.0
    )
    assert retry_after_s(_ThrottledError({"x-ms-status-code": 503})) is None
    assert retry_after_s(_ThrottledError({})) is None


def test_cosmos_requests_stay_under_the_script_size_limit():
    rows = [VertexUpsert(f"v{i}", "card", (("name", "x"),)) for i in range(200)]
    requests = build_requests(rows, partition_key="pk", namespace="", max_script_bytes=2_000)
    assert len(requests) > 1
    assert all(len(script.encode()) <= 2_000 for script, _ in requests)
    assert sum(script.count("addV") for script, _ in requests) == 200

"""The ``tinkerpop`` dialect of the graph projection: one injected traversal per chunk.

Gremlin Server (TinkerPop 3.6 and later) has ``mergeV`` and ``mergeE``. Rather than one
statement per element, which makes the server apply its traversal strategies again for every
statement, a chunk of rows travels as one list binding and one traversal merges them all::

    g.inject(rows).unfold().as('r')
     .mergeV(select('m'))
     .option(Merge.onCreate, select('c'))
     .option(Merge.onMatch, select('r').select('p'))

Each row is a map: ``m`` is the match map (``T.id`` and ``T.label``, plus ``Direction.OUT`` /
``Direction.IN`` for edges), ``c`` the properties set when the element is created and ``p``
those (re)set when it already exists. ``onMatch`` is evaluated against the matched element,
not the row, hence ``select('r')``. Match maps with ``T`` and ``Direction`` keys need a
serializer with typed map keys (GraphBinary or GraphSON v3), which is why this dialect does
not run over GraphSON v2, and why Cosmos DB, which has neither ``mergeV`` nor typed keys,
keeps the fold/coalesce scripts of :mod:`streams.sinks.graph_scripts`.

The semantics are the same as the Cosmos scripts: vertex properties are set on creation only,
edge properties are absolute values set on creation and on match, marks set properties on a
vertex (creating it if the batch lacks it), and the script text never holds a value.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from gremlin_python.process.traversal import Direction, T

from paystream.stores.gremlin import NS
from streams.sinks.graph_scripts import (
    EDGE_LABELS,
    VERTEX_LABELS,
    EdgeUpsert,
    PropValue,
    Statement,
    Upsert,
    VertexMark,
    VertexUpsert,
    check_property_name,
    gremlin_value,
)

# Rows that carry no properties beyond the match (the common case: a BOUGHT edge, a card
# vertex) travel slim: the row is the match map itself, with the partition key and namespace
# in it. Every element of the namespace has those values, so matching on them finds exactly
# what an id lookup finds, and creating from the row sets them. About half the bytes per row,
# which matters because gremlinpython serializes GraphBinary in pure Python.
MERGE_V_PLAIN = "g.inject(rows).unfold().mergeV().iterate()"
MERGE_E_PLAIN = "g.inject(rows).unfold().mergeE().iterate()"
MERGE_V = (
    "g.inject(rows).unfold().as('r').mergeV(select('m'))"
    ".option(Merge.onCreate, select('c'))"
    ".option(Merge.onMatch, select('r').select('p')).iterate()"
)
MERGE_E = (
    "g.inject(rows).unfold().as('r').mergeE(select('m'))"
    ".option(Merge.onCreate, select('c'))"
    ".option(Merge.onMatch, select('r').select('p')).iterate()"
)
# Rows per request. Past about a thousand rows a request, round trips stop mattering; the
# ceiling is Gremlin Server's maxContentLength (10 MB in compose/local), far above 5,000 rows.
DEFAULT_MAX_ROWS = 2_000


def _props(props: Iterable[tuple[str, PropValue]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in props:
        check_property_name(name)
        out[name] = gremlin_value(value)
    return out


def is_plain(row: Upsert) -> bool:
    """Whether ``row`` travels as a slim match-only row (no properties of its own)."""
    return not row.props and not isinstance(row, VertexMark)


def plain_row(row: Upsert, *, partition_key: str, namespace: str) -> dict[Any, Any]:
    """A property-less row as its own match map (see :data:`MERGE_V_PLAIN`)."""
    if isinstance(row, EdgeUpsert):
        if row.label not in EDGE_LABELS:
            raise ValueError(f"unknown edge label {row.label!r}")
        return {
            T.id: row.eid,
            T.label: row.label,
            Direction.OUT: row.src,
            Direction.IN: row.dst,
            NS: namespace,
        }
    if row.label not in VERTEX_LABELS:
        raise ValueError(f"unknown vertex label {row.label!r}")
    return {T.id: row.vid, T.label: row.label, partition_key: row.vid, NS: namespace}


def merge_row(row: Upsert, *, partition_key: str, namespace: str) -> dict[str, Any]:
    """One element of the ``rows`` binding for ``row``."""
    if isinstance(row, EdgeUpsert):
        if row.label not in EDGE_LABELS:
            raise ValueError(f"unknown edge label {row.label!r}")
        props = _props(row.props)
        return {
            "m": {T.id: row.eid, T.label: row.label, Direction.OUT: row.src, Direction.IN: row.dst},
            "c": {NS: namespace, **props},
            "p": props,
        }
    if row.label not in VERTEX_LABELS:
        raise ValueError(f"unknown vertex label {row.label!r}")
    props = _props(row.props)
    # The partition key equals the vertex id (see streams.sinks.graph), as on Cosmos DB.
    created = {partition_key: row.vid, NS: namespace, **props}
    # A plain vertex upsert never changes an existing vertex; a mark (re)sets its properties.
    matched = props if isinstance(row, VertexMark) else {}
    return {"m": {T.id: row.vid, T.label: row.label}, "c": created, "p": matched}


def build_merge_requests(
    rows: Iterable[Upsert],
    *,
    partition_key: str,
    namespace: str,
    max_rows: int = DEFAULT_MAX_ROWS,
) -> list[Statement]:
    """Chunks of rows as ``(script, {"rows": [...]})`` requests, vertices before edges.

    Rows keep their order within a kind, so the caller decides what goes first (vertices,
    then edges, then marks, as :meth:`GremlinGraphSink.apply` does).
    """
    if max_rows < 1:
        raise ValueError("max_rows must be at least 1")
    requests: list[Statement] = []
    current: list[dict[Any, Any]] = []
    current_script = ""
    for row in rows:
        edge, plain = isinstance(row, EdgeUpsert), is_plain(row)
        if plain:
            script = MERGE_E_PLAIN if edge else MERGE_V_PLAIN
            element = plain_row(row, partition_key=partition_key, namespace=namespace)
        else:
            script = MERGE_E if edge else MERGE_V
            element = merge_row(row, partition_key=partition_key, namespace=namespace)
        if current and (script != current_script or len(current) >= max_rows):
            requests.append((current_script, {"rows": current}))
            current = []
        current_script = script
        current.append(element)
    if current:
        requests.append((current_script, {"rows": current}))
    return requests


__all__ = [
    "DEFAULT_MAX_ROWS",
    "MERGE_E",
    "MERGE_E_PLAIN",
    "MERGE_V",
    "MERGE_V_PLAIN",
    "VertexUpsert",
    "build_merge_requests",
    "merge_row",
]

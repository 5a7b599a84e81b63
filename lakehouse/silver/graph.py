"""Silver graph export: the Gremlin projection's vertices and edges, as two Delta tables.

Reads go through a gremlinpython ``Client`` with fixed script text and bindings (GraphSON v2
by default, what Cosmos DB for Gremlin speaks), scoped by the ``ns`` property every vertex and
edge carries, and paged with ``order().by(id).range()`` so a page is a bounded request on
Gremlin Server and on Cosmos alike. The graph is a projection rebuilt from the ledger, so
each export is a full snapshot that overwrites ``silver/graph_vertices`` and
``silver/graph_edges`` (older snapshots stay readable by time travel).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from paystream.errors import ServiceUnavailableError
from paystream.settings import GremlinSettings

if TYPE_CHECKING:
    from gremlin_python.driver.client import Client
    from pyspark.sql import SparkSession

    from lakehouse.paths import LakePaths

PAGE_SIZE = 5000
# Bookkeeping properties every element carries; the tables have columns for what matters.
_HIDDEN = frozenset({"ns", "pk"})
_VERTEX_SCRIPT = (
    "g.V().has('ns', ns).order().by(id).range(lo, hi)"
    ".project('id', 'label', 'props').by(id).by(label).by(valueMap())"
)
_EDGE_SCRIPT = (
    "g.E().has('ns', ns).order().by(id).range(lo, hi)"
    ".project('id', 'label', 'src', 'dst', 'props')"
    ".by(id).by(label).by(outV().id()).by(inV().id()).by(valueMap())"
)
VERTEX_DDL = "id string, label string, key string, ns string, properties map<string, string>"
EDGE_DDL = (
    "id string, label string, src string, dst string, ns string, properties map<string, string>"
)


def _client(settings: GremlinSettings) -> Client:
    from paystream.stores.gremlin import gremlin_client

    # One connection: the export reads page after page, never two at once.
    return gremlin_client(settings, pool_size=1)


def _flatten(props: dict[str, Any]) -> dict[str, str]:
    # Vertex valueMap() gives lists (multi-properties), edge valueMap() plain values.
    out: dict[str, str] = {}
    for name, value in props.items():
        if name in _HIDDEN:
            continue
        if isinstance(value, list):
            value = value[0] if len(value) == 1 else value
        out[str(name)] = str(value)
    return out


def _key(vid: str, namespace: str, label: str) -> str:
    # Vertex ids are f"{namespace}{kind}:{business key}" (streams.sinks.graph.vertex_id).
    prefix = f"{namespace}{label}:"
    return vid[len(prefix) :] if vid.startswith(prefix) else vid


def _pages(client: Client, script: str, namespace: str, page: int) -> Iterator[dict[str, Any]]:
    lo = 0
    while True:
        bindings = {"ns": namespace, "lo": lo, "hi": lo + page}
        rows = client.submit(script, bindings).all().result(timeout=120)
        yield from rows
        if len(rows) < page:
            return
        lo += page


@dataclass(frozen=True)
class GraphExport:
    """What one export wrote."""

    vertices: int
    edges: int


def read_graph(
    settings: GremlinSettings, namespace: str, page: int = PAGE_SIZE
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Every vertex and edge of ``namespace`` as rows for the two silver tables.

    Raises:
        ServiceUnavailableError: Gremlin Server (or Cosmos) cannot be reached.
    """
    client = _client(settings)
    try:
        vertices = [
            (str(r["id"]), str(r["label"]), _key(str(r["id"]), namespace, str(r["label"])),
             namespace, _flatten(r["props"]))
            for r in _pages(client, _VERTEX_SCRIPT, namespace, page)
            if r["label"] != "meta"
        ]  # fmt: skip
        edges = [
            (str(r["id"]), str(r["label"]), str(r["src"]), str(r["dst"]), namespace,
             _flatten(r["props"]))
            for r in _pages(client, _EDGE_SCRIPT, namespace, page)
        ]  # fmt: skip
    except (OSError, TimeoutError, RuntimeError) as exc:
        raise ServiceUnavailableError("Gremlin", settings.url, type(exc).__name__) from exc
    finally:
        with contextlib.suppress(Exception):
            client.close()
    return vertices, edges


def export(
    spark: SparkSession, settings: GremlinSettings, namespace: str, paths: LakePaths
) -> GraphExport:
    """Snapshot the graph of ``namespace`` into ``silver/graph_vertices`` and ``graph_edges``."""
    from pyspark.sql import functions as fn

    from lakehouse.tables import overwrite

    vertices, edges = read_graph(settings, namespace)
    now = fn.current_timestamp()
    v = spark.createDataFrame(vertices, VERTEX_DDL).withColumn("exported_at", now)
    e = spark.createDataFrame(edges, EDGE_DDL).withColumn("exported_at", now)
    overwrite(v, paths.table("silver", "graph_vertices"))
    overwrite(e, paths.table("silver", "graph_edges"))
    return GraphExport(len(vertices), len(edges))

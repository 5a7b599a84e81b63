"""The graph projection: who paid whom, bought what, and used which device or card.

Vertices ``customer``, ``merchant``, ``product`` (order-line SKU), ``device`` and ``card``
(card fingerprint); edges ``PAID`` (customer → merchant, one per currency), ``BOUGHT``
(customer → product) and ``USED`` (customer → device / card).

Everything written must also run on Azure Cosmos DB for Gremlin, so:

* Scripts are fixed templates; every value travels in a binding. Only code-owned constants
  (labels and property names from this module) appear in script text.
* Upserts are ``fold()/coalesce(unfold(), addV(...))`` for vertices and
  ``coalesce(outE().hasId(), addE())`` for edges, written from the source vertex's side
  because Cosmos stores an edge with its source vertex.
* Every vertex carries the partition-key property (``settings.partition_key``). Its value is
  the vertex's own id: devices and cards are shared between customers (that is what the
  fraud-ring queries look for), so no customer can own their partition, and an own-id key
  makes each upsert a single-partition point read.
* Every vertex and edge carries ``ns`` (the sink's namespace), the portable way to scope
  reads and clean-ups: ids cannot be filtered by prefix on Cosmos.
* Numbers are sent as Gremlin ``Long`` so amounts above 2**31 survive every serializer.
* Edge properties are absolute (``PAID`` copies the ledger's totals), never incremented, so a
  replayed batch leaves the same graph. Vertex attributes (names, countries) are written when
  the vertex is created and not updated afterwards; the ledger and Redis own those.

Two dialects write the same graph, chosen by ``settings.dialect``:

* ``tinkerpop`` (the local default, Gremlin Server 3.6+): each chunk of up to ``max_rows``
  rows is one list binding merged by one ``g.inject(rows).unfold().mergeV()`` (or
  ``mergeE()``) traversal; see :mod:`streams.sinks.graph_merge`. The server applies its
  traversal strategies once per chunk instead of once per element.
* ``cosmos`` (Cosmos DB for Gremlin): the fold/coalesce statements of
  :mod:`streams.sinks.graph_scripts`, several per request, with 429 throttling waited out
  for the retry-after Cosmos names.

In the ``cosmos`` dialect a request carries several statements (``g...iterate();
g...iterate()``) whose binding names are numbered per request, so the script text repeats
and the server's script cache stays warm. ``max_bindings`` must not exceed the server's
``maxParameters`` (16 in a stock Gremlin Server, 2048 in compose/local); 50 statements per
request is where round trips stop mattering locally (about 7,000 upserts/s here against
2,600/s at 16 bindings).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from paystream.contracts.events import (
    CustomerRegistered,
    Event,
    MerchantRegistered,
    OrderPlaced,
    PaymentAuthorized,
    RefundIssued,
    RefundReason,
    RiskDecided,
    SessionStarted,
)
from paystream.settings import GremlinSettings
from paystream.stores.graphbinary import encode_list
from paystream.stores.gremlin import NS, GremlinConnection, edge_id, vertex_id
from streams.sinks.graph_merge import DEFAULT_MAX_ROWS, build_merge_requests
from streams.sinks.graph_scripts import (
    EDGE_LABELS,
    VERTEX_LABELS,
    EdgeUpsert,
    PropValue,
    Statement,
    Upsert,
    VertexMark,
    VertexUpsert,
    build_requests,
    cacheable,
    row_key,
)
from streams.sinks.port import Envelope, LedgerSnapshot, PairTotals

__all__ = [
    "EDGE_LABELS",
    "NS",
    "VERTEX_LABELS",
    "EdgeUpsert",
    "GraphPlan",
    "GremlinGraphSink",
    "Statement",
    "VertexMark",
    "VertexUpsert",
    "build_requests",
    "edge_id",
    "plan_batch",
    "vertex_id",
]

log = logging.getLogger(__name__)

# Label of the vertex that marks a namespace as fully built from the ledger.
MARKER_LABEL = "meta"


@dataclass
class GraphPlan:
    """The deduplicated upserts one batch needs: vertices first, then edges."""

    namespace: str
    _vertices: dict[str, tuple[str, dict[str, PropValue]]] = field(default_factory=dict)
    _edges: dict[str, EdgeUpsert] = field(default_factory=dict)
    _marks: dict[str, VertexMark] = field(default_factory=dict)

    def vertex(self, kind: str, key: str, **props: PropValue | None) -> str:
        """Add (or merge into) a vertex; empty and ``None`` values are left out."""
        vid = vertex_id(self.namespace, kind, key)
        _, known = self._vertices.setdefault(vid, (kind, {}))
        known.update({k: v for k, v in props.items() if v is not None and v != ""})
        return vid

    def edge(self, label: str, src: str, dst: str, qualifier: str = "", **props: PropValue) -> None:
        """Add an edge; a later one with the same id replaces the earlier (last wins)."""
        eid = edge_id(label, src, dst, qualifier)
        self._edges[eid] = EdgeUpsert(eid, label, src, dst, tuple(sorted(props.items())))

    def mark(self, kind: str, key: str, **props: PropValue) -> None:
        """Set properties on a vertex (created by :meth:`vertex` if this batch lacks it)."""
        vid = self.vertex(kind, key)
        self._marks[vid] = VertexMark(vid, kind, tuple(sorted(props.items())))

    @property
    def marks(self) -> list[VertexMark]:
        """Property updates on existing vertices, written after the vertices."""
        return sorted(self._marks.values(), key=lambda r: (r.label, r.vid))

    @property
    def vertices(self) -> list[VertexUpsert]:
        """Vertex upserts, grouped by label so requests repeat the same script text."""
        rows = [
            VertexUpsert(vid, kind, tuple(sorted(props.items())))
            for vid, (kind, props) in self._vertices.items()
        ]
        return sorted(rows, key=lambda r: (r.label, tuple(n for n, _ in r.props)))

    @property
    def edges(self) -> list[EdgeUpsert]:
        """Edge upserts, grouped by label."""
        return sorted(self._edges.values(), key=lambda r: r.label)


def plan_batch(batch: Sequence[Envelope], snapshot: LedgerSnapshot, namespace: str) -> GraphPlan:
    """Turn events and ledger totals into deduplicated upserts."""
    plan = GraphPlan(namespace)
    for envelope in batch:
        _plan_event(plan, envelope.event)
    for (customer, merchant, currency), totals in sorted(snapshot.pairs.items()):
        if totals.payment_count <= 0:
            continue
        src, dst = plan.vertex("customer", customer), plan.vertex("merchant", merchant)
        amounts = {"count": totals.payment_count, "amount_minor": totals.amount_minor}
        plan.edge("PAID", src, dst, currency, currency=currency, **amounts)
    return plan


def _plan_event(plan: GraphPlan, event: Event) -> None:
    if isinstance(event, RiskDecided):
        # Decisions are facts about a payment already in the graph; nothing to add.
        return
    if isinstance(event, MerchantRegistered):
        attributes = {"name": event.name, "category": event.category, "country": event.country}
        plan.vertex("merchant", event.merchant_id, **attributes)
        return
    customer_id: str | None = getattr(event, "customer_id", None)
    merchant_id: str | None = getattr(event, "merchant_id", None)
    country = event.country if isinstance(event, CustomerRegistered) else None
    customer = plan.vertex("customer", customer_id, country=country) if customer_id else None
    if merchant_id:
        plan.vertex("merchant", merchant_id)
    if customer is None:
        return
    if isinstance(event, SessionStarted):
        plan.edge("USED", customer, plan.vertex("device", event.device_id))
    elif isinstance(event, PaymentAuthorized):
        if event.device_id:
            plan.edge("USED", customer, plan.vertex("device", event.device_id))
        if event.card_fingerprint:
            plan.edge("USED", customer, plan.vertex("card", event.card_fingerprint))
    elif isinstance(event, OrderPlaced):
        for line in event.lines:
            product = plan.vertex("product", line.sku, name=line.description)
            # No per-order property: the edge is then a pure fact, written once and cached.
            plan.edge("BOUGHT", customer, product)
    elif isinstance(event, RefundIssued) and event.reason is RefundReason.FRAUD_CHARGEBACK:
        # Known fraud: the risk agent counts flagged customers near a payer.
        plan.mark("customer", event.customer_id, fraud=1)


WRITTEN_CACHE_MAX = 2_000_000


class GremlinGraphSink:
    """Projects batches into the graph with batched, idempotent upserts.

    Every driver call runs on the sink's own connection
    (:class:`~paystream.stores.gremlin.GremlinConnection`), so :meth:`apply` works from any
    thread, including one inside a loop.
    """

    name = "graph"

    def __init__(
        self,
        settings: GremlinSettings,
        namespace: str = "",
        *,
        max_statements: int = 50,
        max_bindings: int = 400,
        max_rows: int = DEFAULT_MAX_ROWS,
        timeout_s: float = 30.0,
    ) -> None:
        self.settings = settings
        self.namespace = namespace
        self.dialect = settings.dialect
        self.max_statements = max_statements
        self.max_bindings = max_bindings
        self.max_rows = max_rows
        self.timeout_s = timeout_s
        # Ids of vertices and property-less edges this process has written. Their upserts
        # never change anything once done, so they are skipped; the cache is dropped with the
        # connection (a restarted in-memory server has lost them) and when it grows too big.
        self._written: set[str] = set()
        self._connection = GremlinConnection(
            settings, timeout_s=timeout_s, name="gremlin-sink", on_reset=self._written.clear
        )
        self._submit = self._connection.submit

    def _write(self, rows: Iterable[Upsert]) -> None:
        fresh = [row for row in rows if row_key(row) not in self._written]
        if len(self._written) > WRITTEN_CACHE_MAX:
            self._written.clear()
        if self.dialect == "tinkerpop":
            # The rows binding is encoded here, in one fast pass (the driver's generic
            # GraphBinary writer was the worker's largest cost), and passed through as bytes.
            requests = [
                (script, {"rows": encode_list(bindings["rows"])})
                for script, bindings in build_merge_requests(
                    fresh,
                    partition_key=self.settings.partition_key,
                    namespace=self.namespace,
                    max_rows=self.max_rows,
                )
            ]
        else:
            requests = build_requests(
                fresh,
                partition_key=self.settings.partition_key,
                namespace=self.namespace,
                max_statements=self.max_statements,
                max_bindings=self.max_bindings,
            )
        for script, bindings in requests:
            self._submit(script, bindings)
        self._written.update(row_key(row) for row in fresh if cacheable(row))

    def apply(self, batch: Sequence[Envelope], snapshot: LedgerSnapshot) -> None:
        """Upsert the batch's vertices, then its edges (an edge needs both ends)."""
        plan = plan_batch(batch, snapshot, self.namespace)
        self._write(plan.vertices)
        self._write(plan.edges)
        self._write(plan.marks)

    def read(self, script: str, bindings: dict[str, Any]) -> list[Any]:
        """Run a read-only script (fixed text, every value a binding) on this connection."""
        return self._submit(script, bindings)

    @property
    def _marker_id(self) -> str:
        return f"{self.namespace}{MARKER_LABEL}:built"

    def is_built(self) -> bool:
        """False when the graph lost this namespace (an in-memory server restarted) or never
        held it; the pipeline then rebuilds it from the ledger."""
        rows = self._submit(
            "g.V(vid).has(pkn, vid).count()",
            {"vid": self._marker_id, "pkn": self.settings.partition_key},
        )
        built = bool(rows and int(rows[0]) > 0)
        if not built:
            # What this process remembers writing is gone too: write everything again.
            self._written.clear()
        return built

    def mark_built(self) -> None:
        """Record a complete build with a marker vertex (it carries the partition key too)."""
        self._submit(
            f"g.V(vid).has(pkn, vid).fold().coalesce(unfold(), addV('{MARKER_LABEL}')"
            f".property(id, vid).property(pkn, vid).property('{NS}', ns))",
            {"vid": self._marker_id, "pkn": self.settings.partition_key, "ns": self.namespace},
        )

    def counts(self, namespace: str | None = None) -> dict[str, int]:
        """Vertices and edges per label in a namespace (this sink's by default)."""
        ns = self.namespace if namespace is None else namespace
        result: dict[str, int] = {}
        for step in ("V", "E"):
            rows = self._submit(f"g.{step}().has('{NS}', ns).groupCount().by(label)", {"ns": ns})
            for groups in rows:
                result.update({str(k): int(v) for k, v in groups.items()})
        result.pop(MARKER_LABEL, None)
        return result

    def customers_sharing(self, kind: Literal["device", "card"], key: str) -> int:
        """How many distinct customers used this device or card."""
        if kind not in ("device", "card"):
            raise ValueError(f"kind must be 'device' or 'card', not {kind!r}")
        vid = vertex_id(self.namespace, kind, key)
        script = "g.V(vid).has(pkn, vid).in('USED').hasLabel('customer').dedup().count()"
        rows = self._submit(script, {"vid": vid, "pkn": self.settings.partition_key})
        return int(rows[0]) if rows else 0

    def paid_edge(self, customer_id: str, merchant_id: str, currency: str) -> PairTotals | None:
        """The ``PAID`` edge's totals, or ``None`` when there is no such edge."""
        src = vertex_id(self.namespace, "customer", customer_id)
        dst = vertex_id(self.namespace, "merchant", merchant_id)
        script = (
            "g.V(src).has(pkn, src).outE('PAID').hasId(eid)"
            ".project('count', 'amount_minor').by(values('count')).by(values('amount_minor'))"
        )
        eid = edge_id("PAID", src, dst, currency)
        rows = self._submit(script, {"src": src, "eid": eid, "pkn": self.settings.partition_key})
        if not rows:
            return None
        return PairTotals(int(rows[0]["count"]), int(rows[0]["amount_minor"]))

    def purge_namespace(self) -> int:
        """Drop every vertex (and so every edge) of this sink's namespace; for tests and tools.

        Refuses the empty namespace, which would be the whole graph.
        """
        if not self.namespace:
            raise ValueError("refusing to purge the empty namespace (the whole graph)")
        bindings = {"ns": self.namespace}
        rows = self._submit(f"g.V().has('{NS}', ns).count()", bindings)
        self._submit(f"g.V().has('{NS}', ns).drop()", bindings)
        return int(rows[0]) if rows else 0

    def close(self) -> None:
        """Close the sink's connection."""
        self._connection.close()

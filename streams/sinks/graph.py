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

A request carries several statements (``g...iterate(); g...iterate()``) whose binding
names are numbered per request, so the script text repeats and the server's script cache
stays warm. ``max_bindings`` must not exceed the server's ``maxParameters`` (16 in a stock
Gremlin Server, 2048 in compose/local); 50 statements per request is where round trips stop
mattering locally (about 7,000 upserts/s here against 2,600/s at 16 bindings).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

import aiohttp
from gremlin_python.driver.aiohttp.transport import AiohttpTransport
from gremlin_python.driver.client import Client
from gremlin_python.driver.protocol import GremlinServerError
from gremlin_python.driver.serializer import (
    GraphBinarySerializersV1,
    GraphSONSerializersV2d0,
    GraphSONSerializersV3d0,
)
from gremlin_python.statics import long

from paystream.contracts.events import (
    CustomerRegistered,
    Event,
    MerchantRegistered,
    OrderPlaced,
    PaymentAuthorized,
    SessionStarted,
)
from paystream.errors import ServiceUnavailableError
from paystream.settings import GremlinSettings
from streams.sinks.port import Envelope, LedgerSnapshot, PairTotals

VERTEX_LABELS = frozenset({"customer", "merchant", "product", "device", "card"})
EDGE_LABELS = frozenset({"PAID", "BOUGHT", "USED"})
NS = "ns"
# Label of the vertex that marks a namespace as fully built from the ledger.
MARKER_LABEL = "meta"
# Property names are pasted into script text, so they must be plain identifiers we own.
_PROPERTY_NAME = re.compile(r"^[a-z][a-z_]*$")
_SERIALIZERS = {
    "graphson2": GraphSONSerializersV2d0,
    "graphson3": GraphSONSerializersV3d0,
    "graphbinary": GraphBinarySerializersV1,
}
# Cosmos reports throttling and timeouts as server errors; those are worth retrying.
_TRANSIENT_COSMOS = {408, 429, 449, 503}
_TRANSIENT_TINKERPOP = {598}

PropValue = str | int
Statement = tuple[str, dict[str, Any]]


def vertex_id(namespace: str, kind: str, key: str) -> str:
    """The id of a vertex: namespace, kind and business key."""
    return f"{namespace}{kind}:{key}"


def edge_id(label: str, src: str, dst: str, qualifier: str = "") -> str:
    """A deterministic edge id, so an upsert finds the edge a previous run wrote."""
    suffix = f":{qualifier}" if qualifier else ""
    return f"{label}:{src}>{dst}{suffix}"


def _value(value: PropValue) -> Any:
    # Ints go as Long: GraphBinary cannot send a Python int above 2**31 otherwise. bool is an
    # int subclass and stays a boolean.
    return long(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _props(props: Sequence[tuple[str, PropValue]], i: int) -> tuple[str, dict[str, Any]]:
    text: list[str] = []
    bindings: dict[str, Any] = {}
    for j, (name, value) in enumerate(props):
        if not _PROPERTY_NAME.match(name):
            raise ValueError(f"property name {name!r} is not a plain identifier")
        text.append(f".property('{name}', a{i}_{j})")
        bindings[f"a{i}_{j}"] = _value(value)
    return "".join(text), bindings


@dataclass(frozen=True)
class VertexUpsert:
    """One vertex to create if missing; ``props`` are set only when it is created."""

    vid: str
    label: str
    props: tuple[tuple[str, PropValue], ...] = ()

    @property
    def binding_count(self) -> int:
        """Bindings this statement adds to a request."""
        return 1 + len(self.props)

    def render(self, i: int) -> Statement:
        """Statement ``i`` of a request: template text and its bindings."""
        if self.label not in VERTEX_LABELS:
            raise ValueError(f"unknown vertex label {self.label!r}")
        props, bindings = _props(self.props, i)
        text = (
            f"g.V(v{i}).has(pkn, v{i}).fold().coalesce(unfold(), "
            f"addV('{self.label}').property(id, v{i}).property(pkn, v{i})"
            f".property('{NS}', ns){props}).iterate()"
        )
        return text, {f"v{i}": self.vid, **bindings}


@dataclass(frozen=True)
class EdgeUpsert:
    """One edge to create if missing; ``props`` are (re)set to these absolute values."""

    eid: str
    label: str
    src: str
    dst: str
    props: tuple[tuple[str, PropValue], ...] = ()

    @property
    def binding_count(self) -> int:
        """Bindings this statement adds to a request."""
        return 3 + len(self.props)

    def render(self, i: int) -> Statement:
        """Statement ``i`` of a request: template text and its bindings."""
        if self.label not in EDGE_LABELS:
            raise ValueError(f"unknown edge label {self.label!r}")
        props, bindings = _props(self.props, i)
        # The step label 'd' avoids a nested V() inside to(), which TinkerPop and Cosmos
        # spell differently; the edge is added from the source vertex's side. A missing end
        # makes this a no-op, which is why apply() writes vertices in earlier requests.
        text = (
            f"g.V(d{i}).has(pkn, d{i}).as('d').V(s{i}).has(pkn, s{i})"
            f".coalesce(outE('{self.label}').hasId(e{i}), addE('{self.label}').to('d')"
            f".property(id, e{i}).property('{NS}', ns)){props}.iterate()"
        )
        return text, {f"s{i}": self.src, f"d{i}": self.dst, f"e{i}": self.eid, **bindings}


Upsert = VertexUpsert | EdgeUpsert


@dataclass
class GraphPlan:
    """The deduplicated upserts one batch needs: vertices first, then edges."""

    namespace: str
    _vertices: dict[str, tuple[str, dict[str, PropValue]]] = field(default_factory=dict)
    _edges: dict[str, EdgeUpsert] = field(default_factory=dict)

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


def build_requests(
    rows: Iterable[Upsert],
    *,
    partition_key: str,
    namespace: str,
    max_statements: int = 50,
    max_bindings: int = 400,
) -> list[Statement]:
    """Pack upserts into requests of at most ``max_statements`` and ``max_bindings``."""
    shared = {"pkn": partition_key, "ns": namespace}
    # Gremlin Server compiles each distinct script text once (~40 ms) and then reuses it
    # (~0.15 ms a statement). Packing only rows of one shape per request keeps the number of
    # distinct texts small (shapes × request sizes), so nearly every request is a cache hit.
    by_shape: dict[tuple[str, str, tuple[str, ...]], list[Upsert]] = {}
    for row in rows:
        by_shape.setdefault(_shape(row), []).append(row)
    chunks: list[list[Upsert]] = []
    used = 0
    for row in (row for group in by_shape.values() for row in group):
        if len(shared) + row.binding_count > max_bindings:
            raise ValueError(f"one statement needs more than {max_bindings} bindings")
        if (
            not chunks
            or len(chunks[-1]) >= max_statements
            or _shape(chunks[-1][0]) != _shape(row)
            or used + row.binding_count > max_bindings
        ):
            chunks.append([])
            used = len(shared)
        chunks[-1].append(row)
        used += row.binding_count
    requests: list[Statement] = []
    for chunk in chunks:
        texts: list[str] = []
        bindings: dict[str, Any] = dict(shared)
        for i, row in enumerate(chunk):
            text, own = row.render(i)
            texts.append(text)
            bindings.update(own)
        requests.append((";\n".join(texts), bindings))
    return requests


def _is_transient(exc: GremlinServerError) -> bool:
    attributes = exc.status_attributes or {}
    cosmos = attributes.get("x-ms-status-code")
    return exc.status_code in _TRANSIENT_TINKERPOP or (
        cosmos is not None and int(cosmos) in _TRANSIENT_COSMOS
    )


WRITTEN_CACHE_MAX = 2_000_000


class GremlinGraphSink:
    """Projects batches into the graph with batched, idempotent upserts.

    gremlinpython runs an event loop per connection with ``run_until_complete``, which fails
    on a thread that already runs a loop. Every driver call therefore runs on this sink's
    own I/O thread, so :meth:`apply` works from any thread, including one inside a loop.
    """

    name = "graph"

    def __init__(
        self,
        settings: GremlinSettings,
        namespace: str = "",
        *,
        max_statements: int = 50,
        max_bindings: int = 400,
        timeout_s: float = 30.0,
    ) -> None:
        self.settings = settings
        self.namespace = namespace
        self.max_statements = max_statements
        self.max_bindings = max_bindings
        self.timeout_s = timeout_s
        self._closed = False
        # Ids of vertices and property-less edges this process has written. Their upserts
        # never change anything once done, so they are skipped; the cache is dropped with the
        # connection (a restarted in-memory server has lost them) and when it grows too big.
        self._written: set[str] = set()
        self._io = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gremlin-sink")
        self._client, self._transports = self._new_client()

    def _new_client(self) -> tuple[Client, list[AiohttpTransport]]:
        # Kept so that close() reaches transports the driver lost track of (a failed connect
        # drops its connection from the pool); unclosed, each holds an event loop and its
        # sockets until garbage collection closes it on whichever thread happens to run.
        transports: list[AiohttpTransport] = []

        def transport() -> AiohttpTransport:
            made = AiohttpTransport(read_timeout=self.timeout_s, write_timeout=self.timeout_s)
            transports.append(made)
            return made

        password = self.settings.password
        client = Client(
            self.settings.url,
            self.settings.traversal_source,
            transport_factory=transport,
            message_serializer=_SERIALIZERS[self.settings.serializer](),
            username=self.settings.username or "",
            password=password.get_secret_value() if password else "",
            # Requests are sequential; a spare connection covers one still draining.
            pool_size=2,
            max_workers=4,
        )
        return client, transports

    def _run(self, script: str, bindings: dict[str, Any]) -> list[Any]:
        return list(self._client.submit(script, bindings).all().result(timeout=self.timeout_s))

    def _submit(self, script: str, bindings: dict[str, Any]) -> list[Any]:
        if self._closed:
            raise RuntimeError("GremlinGraphSink is closed")
        try:
            return self._io.submit(self._run, script, bindings).result(self.timeout_s + 5)
        except GremlinServerError as exc:
            if _is_transient(exc):
                raise ServiceUnavailableError("Gremlin", self.settings.url, str(exc)) from exc
            raise
        except (OSError, aiohttp.ClientError, RuntimeError, TimeoutError) as exc:
            self._reset()
            detail = f"{type(exc).__name__}: {exc}"
            raise ServiceUnavailableError("Gremlin", self.settings.url, detail) from exc

    def _reset(self) -> None:
        # A failed connect leaves the driver's pool short (a later request would wait for it
        # forever) and a timed-out request may still be reading, so start over on a fresh
        # client and thread and let the old ones wind down in the background.
        old = self._io, self._client, self._transports
        self._written.clear()
        self._io = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gremlin-sink")
        self._client, self._transports = self._new_client()
        old[0].submit(_close_quietly, old[1], old[2])
        old[0].shutdown(wait=False)

    def _write(self, rows: Iterable[Upsert]) -> None:
        fresh = [row for row in rows if _key(row) not in self._written]
        if len(self._written) > WRITTEN_CACHE_MAX:
            self._written.clear()
        for script, bindings in build_requests(
            fresh,
            partition_key=self.settings.partition_key,
            namespace=self.namespace,
            max_statements=self.max_statements,
            max_bindings=self.max_bindings,
        ):
            self._submit(script, bindings)
        self._written.update(_key(row) for row in fresh if _cacheable(row))

    def apply(self, batch: Sequence[Envelope], snapshot: LedgerSnapshot) -> None:
        """Upsert the batch's vertices, then its edges (an edge needs both ends)."""
        plan = plan_batch(batch, snapshot, self.namespace)
        self._write(plan.vertices)
        self._write(plan.edges)

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
        """Close the driver's connections on the I/O thread, then stop the thread."""
        if self._closed:
            return
        self._closed = True
        self._io.submit(_close_quietly, self._client, self._transports).result(self.timeout_s)
        self._io.shutdown(wait=True)


def _shape(row: Upsert) -> tuple[str, str, tuple[str, ...]]:
    kind = "V" if isinstance(row, VertexUpsert) else "E"
    return kind, row.label, tuple(name for name, _ in row.props)


def _key(row: Upsert) -> str:
    return row.vid if isinstance(row, VertexUpsert) else row.eid


def _cacheable(row: Upsert) -> bool:
    # Vertices only set properties on creation; edges with properties (PAID) carry values
    # that change, so they are always written.
    return isinstance(row, VertexUpsert) or not row.props


def _close_quietly(client: Client, transports: list[AiohttpTransport]) -> None:
    # Closing a broken connection has nothing left to report.
    with contextlib.suppress(Exception):
        client.close()
    for transport in transports:
        with contextlib.suppress(Exception):
            transport.close()

"""Graph features from Gremlin: one string script with bindings per batch (Cosmos-compatible).

The alternative to the Redis graph cache (``risk.graph_source=gremlin``): the same three
features, asked of the graph itself within ``risk.graph_timeout_ms``. The agent reads on a
connection of its own; the projection's writer is not loaded.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from paystream.contracts.events import PaymentAuthorized
from paystream.contracts.fraud_features import GraphView
from paystream.stores.gremlin import GremlinConnection, vertex_id

# Device and card vertices: who used them, and which of those are flagged. The payer's own
# vertex: flagged customers two hops away (sharing any device or card) and its own flag.
GRAPH_SCRIPT = (
    "g.V(ids).has(pkn, within(ids)).project('id', 'users', 'flagged', 'self')"
    ".by(id())"
    ".by(__.in('USED').hasLabel('customer').id().fold())"
    ".by(choose(hasLabel('customer'),"
    " out('USED').in('USED').has('fraud', 1).dedup().id().fold(),"
    " __.in('USED').has('fraud', 1).id().fold()))"
    ".by(values('fraud').fold())"
)


class RiskGraph:
    """Graph features for a batch, asked in one request on the agent's own connection.

    ``namespace`` is the vertex-id prefix the projection writes under (``"{ns}:"``).
    """

    def __init__(self, connection: GremlinConnection, namespace: str) -> None:
        self.connection = connection
        self.namespace = namespace

    def request(self, events: Sequence[PaymentAuthorized]) -> tuple[str, dict[str, Any]]:
        """The script and bindings for a batch."""
        ids: set[str] = set()
        for e in events:
            ids.add(vertex_id(self.namespace, "customer", e.customer_id))
            if e.device_id:
                ids.add(vertex_id(self.namespace, "device", e.device_id))
            if e.card_fingerprint:
                ids.add(vertex_id(self.namespace, "card", e.card_fingerprint))
        return GRAPH_SCRIPT, {"ids": sorted(ids), "pkn": self.connection.settings.partition_key}

    def read(self, script: str, bindings: dict[str, Any]) -> list[Any]:
        """Run the read script (fixed text, every value a binding)."""
        return self.connection.submit(script, bindings)

    def close(self) -> None:
        """Close the connection."""
        self.connection.close()

    def views(
        self, events: Sequence[PaymentAuthorized], rows: list[dict[str, Any]]
    ) -> list[GraphView]:
        """Per-payment graph view from the script's rows."""
        by_id = {str(r["id"]): r for r in rows}
        views: list[GraphView] = []
        for e in events:
            payer = vertex_id(self.namespace, "customer", e.customer_id)
            me = by_id.get(payer, {})
            flagged: set[str] = set(map(str, me.get("flagged", [])))
            if me.get("self"):
                flagged.add(payer)
            counts: dict[str, int] = {}
            for kind, key in (("device", e.device_id), ("card", e.card_fingerprint)):
                row = by_id.get(vertex_id(self.namespace, kind, key)) if key else None
                users = set(map(str, row.get("users", []))) if row else set()
                counts[kind] = len(users | {payer}) if key else 0
                if row:
                    flagged |= set(map(str, row.get("flagged", [])))
            views.append(GraphView(counts["device"], counts["card"], len(flagged)))
        return views

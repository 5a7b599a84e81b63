"""Graph co-occurrence: "bought X, also bought Y", read live from the Gremlin graph.

The stream's graph sink writes ``customer -BOUGHT-> product`` as orders arrive, so this
recommender needs no training and knows a customer from their first order: it serves
customers that the last ALS model never saw. An item scores the number of paths
``you -BOUGHT-> x <-BOUGHT- other -BOUGHT-> y`` (other ≠ you), exactly what
:class:`ml.recommender.models.CooccurrenceRecommender` computes offline for evaluation.

Like the sink, reads are fixed script templates with every value in a binding, run over
GraphSON v2 (what Cosmos DB speaks), scoped by the ``ns`` property, with vertex ids from
:func:`paystream.stores.gremlin.vertex_id`; results come back as maps or scalars.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pandas as pd
from gremlin_python.driver.aiohttp.transport import AiohttpTransport
from gremlin_python.driver.client import Client
from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_exponential

from ml.recommender.models import Recommender
from paystream.contracts.served import RecommendedItem
from paystream.errors import ServiceUnavailableError
from paystream.settings import GremlinSettings
from paystream.stores.gremlin import NS, gremlin_client, vertex_id

# The explicit barrier() bulks traversers that reach the same co-buyer, so a popular item
# costs one step per co-buyer rather than one per path.
_ALSO_BOUGHT = (
    "g.V(uid).has(pkn, uid).out('BOUGHT').has('{ns}', ns).aggregate('seen')"
    ".in('BOUGHT').has('{ns}', ns).not(hasId(uid)).barrier()"
    ".out('BOUGHT').has('{ns}', ns){exclude}"
    ".groupCount().by(id).unfold().order().by(values, desc).by(keys, asc).limit(k)"
    ".project('item', 'score').by(select(keys)).by(select(values))"
)
_CUSTOMERS_WITH_HISTORY = (
    "g.V().has('{ns}', ns).hasLabel('customer').where(outE('BOUGHT')).id().order().limit(n)"
)


class GraphCooccurrenceRecommender(Recommender):
    """Co-occurrence over the live graph of one namespace (the stream sink's, ``ps:``)."""

    source = "graph"

    def __init__(self, settings: GremlinSettings, namespace: str, timeout_s: float = 30.0) -> None:
        self.settings = settings
        self.namespace = namespace
        self.timeout_s = timeout_s
        self._prefix = vertex_id(namespace, "product", "")
        # gremlinpython runs an event loop per connection; a private thread keeps it away
        # from any loop the caller runs (as the graph sink does).
        self._io = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gremlin-reco")
        self._client: Client | None = None
        # Kept so that a failed connect's transport (which the driver forgets) is closed on
        # this thread rather than by garbage collection on another one.
        self._transports: list[AiohttpTransport] = []

    def fit(self, interactions: pd.DataFrame) -> None:
        """Nothing to learn: the graph is the model, kept current by the stream."""

    def recommend(self, user: str, k: int = 10, exclude_seen: bool = True) -> list[RecommendedItem]:
        """Top ``k`` co-bought items; empty when the customer has no purchase in the graph."""
        if k < 1:
            return []
        exclude = ".where(without('seen'))" if exclude_seen else ""
        script = _ALSO_BOUGHT.format(ns=NS, exclude=exclude)
        uid = vertex_id(self.namespace, "customer", user)
        rows = self._submit(
            script, {"uid": uid, "pkn": self.settings.partition_key, "ns": self.namespace, "k": k}
        )
        ranked = sorted(
            ((str(row["item"]), int(row["score"])) for row in rows), key=lambda r: (-r[1], r[0])
        )
        return [
            RecommendedItem(
                item_id=vid.removeprefix(self._prefix), score=float(score), source="graph"
            )
            for vid, score in ranked
        ]

    def ping(self) -> None:
        """Check the server answers (raises :class:`ServiceUnavailableError` otherwise)."""
        self._submit("g.inject(x)", {"x": 1})

    def customers_with_history(self, limit: int = 100_000) -> list[str]:
        """Customer ids (not vertex ids) with at least one ``BOUGHT`` edge, sorted."""
        prefix = vertex_id(self.namespace, "customer", "")
        rows = self._submit(
            _CUSTOMERS_WITH_HISTORY.format(ns=NS), {"ns": self.namespace, "n": limit}
        )
        return [str(row).removeprefix(prefix) for row in rows]

    def _connect(self) -> Client:
        if self._client is None:
            self._client = gremlin_client(
                self.settings, timeout_s=self.timeout_s, transports=self._transports
            )
        return self._client

    @retry(
        retry=retry_if_exception_type(OSError),
        stop=stop_after_attempt(3),
        wait=wait_exponential(multiplier=0.2, max=2),
        reraise=True,
    )
    def _run(self, script: str, bindings: dict[str, Any]) -> list[Any]:
        try:
            return list(self._connect().submit(script, bindings).all().result(self.timeout_s))
        except OSError:
            # A failed connect leaves the driver's pool one connection short; once it is empty
            # a submit waits forever, so each retry starts from a new client.
            self._drop_client()
            raise

    def _submit(self, script: str, bindings: dict[str, Any]) -> list[Any]:
        try:
            return self._io.submit(self._run, script, bindings).result(self.timeout_s * 4)
        except (OSError, TimeoutError) as exc:
            self._io.submit(self._drop_client).result(self.timeout_s)
            raise ServiceUnavailableError("Gremlin Server", self.settings.url, str(exc)) from exc

    def _drop_client(self) -> None:
        client, self._client = self._client, None
        transports, self._transports = self._transports, []
        # Closing a broken connection has nothing left to report.
        if client is not None:
            with contextlib.suppress(Exception):
                client.close()
        for made in transports:
            with contextlib.suppress(Exception):
                made.close()

    def close(self) -> None:
        """Close the connection and the I/O thread."""
        self._io.submit(self._drop_client).result(self.timeout_s)
        self._io.shutdown(wait=True)

    def __enter__(self) -> GraphCooccurrenceRecommender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def recommend_for(
    recommender: Recommender, users: Sequence[str], k: int
) -> dict[str, list[RecommendedItem]]:
    """Graph recommendations for ``users`` (one query each), skipping empty answers."""
    found: dict[str, list[RecommendedItem]] = {}
    for user in users:
        items = recommender.recommend(user, k)
        if items:
            found[user] = items
    return found

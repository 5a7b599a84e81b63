"""The Gremlin adapter: one way to build a client, a connection, and the graph's element ids.

Every process that talks to the graph (the projection, the risk agent, the recommender's
graph model, the lakehouse export) builds its driver client here, from
:class:`~paystream.settings.GremlinSettings`, so timeouts, credentials and the serializer
(GraphSON v2 for Cosmos DB, GraphBinary for Gremlin Server) are decided once.
:class:`GremlinConnection` runs scripts on a client of its own from any thread, waits out
Cosmos throttling and starts over after a failed connection: the projection writes through
one, the risk agent reads through another.

Vertex and edge ids are part of the graph's contract: the writer (``streams``) and readers
(``risk``, ``ml``, ``lakehouse``) must derive the same id from the same business key.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from paystream.errors import ServiceUnavailableError
from paystream.settings import GremlinSettings

if TYPE_CHECKING:
    from gremlin_python.driver.aiohttp.transport import AiohttpTransport
    from gremlin_python.driver.client import Client
    from gremlin_python.driver.protocol import GremlinServerError

log = logging.getLogger(__name__)

# The partition-key property every vertex carries (Cosmos DB requires one on each vertex).
NS = "ns"


def vertex_id(namespace: str, kind: str, key: str) -> str:
    """The id of a vertex: namespace, kind and business key."""
    return f"{namespace}{kind}:{key}"


def edge_id(label: str, src: str, dst: str, qualifier: str = "") -> str:
    """A deterministic edge id, so an upsert finds the edge a previous run wrote."""
    suffix = f":{qualifier}" if qualifier else ""
    return f"{label}:{src}>{dst}{suffix}"


def serializer(settings: GremlinSettings) -> object:
    """A new message serializer of the configured kind."""
    from gremlin_python.driver.serializer import (
        GraphBinarySerializersV1,
        GraphSONSerializersV2d0,
    )

    from paystream.stores.graphbinary import writer

    kinds: dict[str, Callable[[], object]] = {
        "graphson2": GraphSONSerializersV2d0,
        # Bulk writes bind pre-encoded rows (paystream.stores.graphbinary).
        "graphbinary": lambda: GraphBinarySerializersV1(writer=writer()),
    }
    return kinds[settings.wire_serializer]()


def gremlin_client(
    settings: GremlinSettings,
    *,
    timeout_s: float | None = None,
    pool_size: int = 2,
    max_workers: int = 4,
    transports: list[AiohttpTransport] | None = None,
) -> Client:
    """A driver client for string scripts with bindings (the form Cosmos DB accepts).

    Args:
        settings: where the server is, how to authenticate and which serializer to speak.
        timeout_s: read and write timeout of each connection; None keeps the driver's.
        pool_size: connections kept open; requests beyond it wait for a free one.
        max_workers: the driver's executor threads.
        transports: when given, every transport the client opens is appended to it, so the
            caller can close transports the driver lost track of (a failed connect drops its
            connection from the pool, and an unclosed transport keeps its event loop alive).
    """
    from gremlin_python.driver.aiohttp.transport import AiohttpTransport
    from gremlin_python.driver.client import Client

    def transport() -> AiohttpTransport:
        if timeout_s is None:
            made = AiohttpTransport()
        else:
            made = AiohttpTransport(read_timeout=timeout_s, write_timeout=timeout_s)
        if transports is not None:
            transports.append(made)
        return made

    password = settings.password
    return Client(
        settings.url,
        settings.traversal_source,
        transport_factory=transport,
        message_serializer=serializer(settings),
        username=settings.username or "",
        password=password.get_secret_value() if password else "",
        pool_size=pool_size,
        max_workers=max_workers,
    )


# -- a connection -----------------------------------------------------------------------------

# Cosmos reports throttling and timeouts as server errors; those are worth retrying.
# 409: two workers created the same shared vertex (a device, a card) at once; the retry's
# fold/coalesce finds the vertex the other one wrote.
_TRANSIENT_COSMOS = {408, 409, 429, 449, 503}
_TRANSIENT_TINKERPOP = {598}
# Throttled requests (Cosmos 429) are retried here, after the wait Cosmos asks for, this many
# times before the caller's own backoff takes over.
THROTTLE_RETRIES = 5
THROTTLE_MAX_WAIT_S = 5.0


def retry_after_s(exc: GremlinServerError) -> float | None:
    """The wait a throttled Cosmos request asks for, or None when it was not throttled."""
    attributes = exc.status_attributes or {}
    if str(attributes.get("x-ms-status-code", "")) != "429":
        return None
    try:
        wait_ms = float(attributes.get("x-ms-retry-after-ms", 100))
    except (TypeError, ValueError):
        wait_ms = 100.0
    return min(max(wait_ms, 0.0) / 1000, THROTTLE_MAX_WAIT_S)


def _is_transient(exc: GremlinServerError) -> bool:
    attributes = exc.status_attributes or {}
    cosmos = attributes.get("x-ms-status-code")
    return exc.status_code in _TRANSIENT_TINKERPOP or (
        cosmos is not None and int(cosmos) in _TRANSIENT_COSMOS
    )


class GremlinConnection:
    """String scripts with bindings on a client of its own, callable from any thread.

    gremlinpython runs an event loop per connection with ``run_until_complete``, which fails
    on a thread that already runs a loop. Every driver call therefore runs on this
    connection's own I/O thread. A transient failure raises
    :class:`~paystream.errors.ServiceUnavailableError` (after a failed connection the client
    and thread start over, and ``on_reset`` is called); a Cosmos 429 is waited out first.
    """

    def __init__(
        self,
        settings: GremlinSettings,
        *,
        timeout_s: float = 30.0,
        name: str = "gremlin",
        on_reset: Callable[[], None] | None = None,
    ) -> None:
        self.settings = settings
        self.timeout_s = timeout_s
        self.name = name
        self._on_reset = on_reset
        self._closed = False
        self._io = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._client, self._transports = self._new_client()

    def _new_client(self) -> tuple[Client, list[AiohttpTransport]]:
        # Requests are sequential; a spare connection covers one still draining.
        transports: list[AiohttpTransport] = []
        client = gremlin_client(
            self.settings, timeout_s=self.timeout_s, pool_size=2, transports=transports
        )
        return client, transports

    def _run(self, script: str, bindings: dict[str, Any]) -> list[Any]:
        return list(self._client.submit(script, bindings).all().result(timeout=self.timeout_s))

    def submit(self, script: str, bindings: dict[str, Any]) -> list[Any]:
        """Run one script (fixed text, every value a binding) and return its results."""
        from gremlin_python.driver.protocol import GremlinServerError

        for attempt in range(THROTTLE_RETRIES + 1):
            try:
                return self._submit_once(script, bindings)
            except GremlinServerError as exc:
                wait = retry_after_s(exc)
                if wait is None:
                    raise
                if attempt == THROTTLE_RETRIES:
                    # Still throttled: a transient outage for the caller's backoff.
                    raise ServiceUnavailableError("Gremlin", self.settings.url, str(exc)) from exc
                # Callers send idempotent upserts or reads, so resending after a 429 is safe.
                log.info("graph throttled (429); retrying in %.3f s", wait)
                time.sleep(wait)
        raise AssertionError("unreachable")

    def _submit_once(self, script: str, bindings: dict[str, Any]) -> list[Any]:
        import aiohttp
        from gremlin_python.driver.protocol import GremlinServerError

        if self._closed:
            raise RuntimeError(f"{self.name} connection is closed")
        try:
            return self._io.submit(self._run, script, bindings).result(self.timeout_s + 5)
        except GremlinServerError as exc:
            if retry_after_s(exc) is not None:
                raise
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
        if self._on_reset is not None:
            self._on_reset()
        self._io = ThreadPoolExecutor(max_workers=1, thread_name_prefix=self.name)
        self._client, self._transports = self._new_client()
        old[0].submit(_close_quietly, old[1], old[2])
        old[0].shutdown(wait=False)

    def close(self) -> None:
        """Close the driver's connections on the I/O thread, then stop the thread."""
        if self._closed:
            return
        self._closed = True
        self._io.submit(_close_quietly, self._client, self._transports).result(self.timeout_s)
        self._io.shutdown(wait=True)


def _close_quietly(client: Client, transports: list[AiohttpTransport]) -> None:
    # Closing a broken connection has nothing left to report.
    with contextlib.suppress(Exception):
        client.close()
    for transport in transports:
        with contextlib.suppress(Exception):
            transport.close()

"""The Gremlin adapter: one way to build a client, and the graph's element ids.

Every process that talks to the graph (the projection, the risk agent, the recommender's
graph model, the lakehouse export) builds its driver client here, from
:class:`~paystream.settings.GremlinSettings`, so timeouts, credentials and the serializer
(GraphSON v2 for Cosmos DB, GraphBinary for Gremlin Server) are decided once.

Vertex and edge ids are part of the graph's contract: the writer (``streams``) and readers
(``ml``, ``lakehouse``) must derive the same id from the same business key.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from paystream.settings import GremlinSettings

if TYPE_CHECKING:
    from gremlin_python.driver.aiohttp.transport import AiohttpTransport
    from gremlin_python.driver.client import Client

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

"""The event bus port: what producers need from Kafka or Event Hubs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from paystream.contracts import Event


@dataclass(frozen=True)
class Message:
    """One raw record: topic, key, value and headers."""

    topic: str
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...] = field(default=())


class Publisher(Protocol):
    """Publishes events (validated contracts) and raw records."""

    async def publish(self, event: Event) -> None:
        """Enqueue one event on its topic, keyed by its partition key."""

    async def send(self, message: Message) -> None:
        """Enqueue one raw record (used for dead letters)."""

    async def flush(self) -> None:
        """Wait until everything enqueued is acknowledged."""

"""Event contracts: the envelope, every event type, and their JSON Schema."""

from paystream.contracts.events import (
    EVENT_CLASSES,
    TOPICS,
    AnyEvent,
    ContractError,
    Event,
    event_id_for,
    json_schemas,
    parse_event,
)

__all__ = [
    "EVENT_CLASSES",
    "TOPICS",
    "AnyEvent",
    "ContractError",
    "Event",
    "event_id_for",
    "json_schemas",
    "parse_event",
]

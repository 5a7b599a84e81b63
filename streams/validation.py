"""Turns raw Kafka records into validated events or dead letters, never an exception."""

from __future__ import annotations

from dataclasses import dataclass

from paystream.contracts import ContractError
from paystream.contracts.deadletter import DeadLetter
from paystream.contracts.storable import parse_record
from streams.sinks.port import Envelope

#: Records larger than this are refused before parsing (a huge field must not stall a worker).
MAX_RECORD_BYTES = 1_000_000


@dataclass(frozen=True)
class RawRecord:
    """One record as read from Kafka."""

    topic: str
    partition: int
    offset: int
    value: bytes | None


def validate(record: RawRecord) -> Envelope | DeadLetter:
    """Parse one record against the contracts.

    Returns the validated event with its source position, or the dead letter that says why
    it was refused (malformed JSON, unknown event type, schema violation, bad amount, unknown
    currency, a card number in any string, empty or oversized record) with the original bytes,
    card numbers masked.
    """
    raw = record.value or b""

    def dead(reason: str, detail: str) -> DeadLetter:
        return DeadLetter.capped(
            reason=reason,
            detail=detail[:2000],
            source=record.topic,
            partition=record.partition,
            offset=record.offset,
            original=raw,
        )

    if not raw:
        return dead("empty_record", "the record has no value")
    if len(raw) > MAX_RECORD_BYTES:
        return dead("oversized_record", f"{len(raw)} bytes > {MAX_RECORD_BYTES}")
    try:
        # A card number in any string, known field or not, is refused like a contract
        # violation (the dead letter keeps a masked copy).
        event = parse_record(raw)
    except ContractError as exc:
        return dead(exc.reason, str(exc))
    except Exception as exc:
        # e.g. invalid UTF-8, absurd nesting, a value no type can hold: still a bad record,
        # never a crash (a crash here would re-read the same record forever).
        return dead("malformed_json", f"{type(exc).__name__}: {exc}"[:500])
    return Envelope(event, record.topic, record.partition, record.offset)

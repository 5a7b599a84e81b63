"""The dead-letter record: what could not be processed, why, and where it came from."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, field_validator

from paystream.contracts.pan import mask_pans, mask_pans_in_bytes

#: Base64 grows data by a third; this keeps a dead letter well under a 1 MB Kafka record.
MAX_ORIGINAL_BYTES = 256 * 1024


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode()


Base64Bytes = Annotated[bytes, PlainSerializer(_b64, return_type=str, when_used="json")]


class DeadLetter(BaseModel):
    """One dead-letter entry, keyed on the wire by its source position.

    ``original`` keeps the exact bytes that failed (base64 in JSON) so that a replay after a
    fix reprocesses precisely what arrived.
    """

    model_config = ConfigDict(frozen=True)

    reason: str = Field(description="machine-readable reason code, e.g. malformed_json")
    detail: str = Field(default="", max_length=2000, description="what was wrong, for a person")
    source: str = Field(description="topic, or file for replayed data")
    partition: int | None = None
    offset: int | None = Field(default=None, description="offset in the topic, or file line")
    original: Base64Bytes
    dead_at: datetime = Field(default_factory=lambda: datetime.now(UTC))

    @field_validator("original", mode="before")
    @classmethod
    def _decode(cls, value: object) -> object:
        # JSON carries base64 text; Python callers pass the raw bytes.
        if isinstance(value, str):
            return base64.b64decode(value)
        return value

    @classmethod
    def capped(cls, *, original: bytes, detail: str = "", **fields: object) -> DeadLetter:
        """A dead letter whose copy of ``original`` fits in one Kafka record.

        Larger originals keep their first :data:`MAX_ORIGINAL_BYTES` bytes; the detail records
        the full size and sha256, and the source position still points at the whole record.
        Card numbers in the copy and in the detail are masked (first 6 and last 4 digits
        kept): the dead-letter topic must never hold a PAN, whatever arrived.
        """
        original = mask_pans_in_bytes(original)
        detail = mask_pans(detail)
        if len(original) > MAX_ORIGINAL_BYTES:
            digest = hashlib.sha256(original).hexdigest()
            detail = f"{detail} [original truncated: {len(original)} bytes, sha256 {digest}]"
            original = original[:MAX_ORIGINAL_BYTES]
        return cls(original=original, detail=detail[:2000], **fields)

    def to_bytes(self) -> bytes:
        """Wire form: compact JSON."""
        return self.model_dump_json().encode()

    def key(self) -> bytes:
        """Record key: the source position, so a re-routed record overwrites its twin."""
        return f"{self.source}:{self.partition}:{self.offset}".encode()

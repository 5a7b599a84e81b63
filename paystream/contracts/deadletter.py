"""The dead-letter record: what could not be processed, why, and where it came from."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, field_validator


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

    def to_bytes(self) -> bytes:
        """Wire form: compact JSON."""
        return self.model_dump_json().encode()

    def key(self) -> bytes:
        """Record key: the source position, so a re-routed record overwrites its twin."""
        return f"{self.source}:{self.partition}:{self.offset}".encode()

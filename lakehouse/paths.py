"""Where every lakehouse table and checkpoint lives under ``settings.lakehouse.root``.

Layout: ``<root>/<layer>/<table>`` for tables (``bronze/events``, ``silver/payments``,
``gold/merchant_statements``) and ``<root>/_checkpoints/<job>`` for streaming checkpoints.
The root may be a local path or any URI Spark and delta-rs both understand (``abfss://``,
``s3://``); paths are joined as text so a URI keeps its scheme.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

LAYERS = ("bronze", "silver", "gold")


@dataclass(frozen=True)
class LakePaths:
    """Table and checkpoint locations below one lakehouse root."""

    root: str

    @classmethod
    def of(cls, root: Path | str) -> LakePaths:
        """Paths below ``root`` (a ``Path`` or a URI)."""
        return cls(str(root).rstrip("/"))

    def table(self, layer: str, name: str) -> str:
        """Location of table ``name`` in ``layer``."""
        if layer not in LAYERS:
            raise ValueError(f"unknown layer {layer!r}; one of {', '.join(LAYERS)}")
        return f"{self.root}/{layer}/{name}"

    def checkpoint(self, job: str) -> str:
        """Checkpoint location of streaming job ``job``."""
        return f"{self.root}/_checkpoints/{job}"

    @property
    def is_local(self) -> bool:
        """True when the root is a plain filesystem path."""
        return "://" not in self.root or self.root.startswith("file://")

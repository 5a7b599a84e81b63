"""Where a labelled history's tables live in the lakehouse, for their writer and readers.

``paystream features build --history FILE`` (the lakehouse) writes them; the backtest and
training (ml) and ``paystream features parity`` read the offline features. One history per
namespace, below ``<lakehouse root>/history/<namespace>/``:

* ``transactions``: the file's good rows, as read with its column mapping;
* ``routed``: every row that cannot be a payment, with its reason;
* ``fraud_features``: the offline features, one row per payment, partitioned by day
  (payment_id, customer_id, card, authorized_at, day, every feature of
  :data:`paystream.contracts.fraud_features.FEATURES`, rules_score, label, label_known_at).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from paystream.errors import ConfigurationError

#: The namespace a history gets when none is named.
DEFAULT_NAMESPACE = "default"
_NAMESPACE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def namespace_for(path: Path) -> str:
    """A history's default namespace: its file name without extensions, made a safe name."""
    stem = path.name.split(".")[0] or DEFAULT_NAMESPACE
    return re.sub(r"[^A-Za-z0-9_-]", "_", stem)[:64]


@dataclass(frozen=True)
class HistoryPaths:
    """The tables of one history namespace below a lakehouse root (a path or a URI)."""

    root: str

    @classmethod
    def of(cls, lake_root: Path | str, namespace: str = DEFAULT_NAMESPACE) -> HistoryPaths:
        """The tables of history ``namespace`` under the lakehouse at ``lake_root``.

        Raises:
            ConfigurationError: the namespace is not a short name of letters, digits, - or _.
        """
        if not _NAMESPACE.match(namespace):
            raise ConfigurationError(
                f"history namespace {namespace[:80]!r} must be 1-64 letters, digits, - or _"
            )
        return cls(f"{str(lake_root).rstrip('/')}/history/{namespace}")

    @property
    def transactions(self) -> str:
        """The landed good rows."""
        return f"{self.root}/transactions"

    @property
    def routed(self) -> str:
        """Rows that cannot be payments, each with its reason."""
        return f"{self.root}/routed"

    @property
    def features(self) -> str:
        """The offline feature table, partitioned by day."""
        return f"{self.root}/fraud_features"

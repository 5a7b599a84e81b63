"""The ledger's running totals of one owner in one currency, as every copy of them reads.

The ledger (``balances``) is where they are kept; the change feed carries them, and Redis and
the graph copy their absolute values (the Redis layout is :mod:`paystream.stores.redis`).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Totals:
    """Money that moved for one owner (merchant or customer) in one currency."""

    captured_minor: int = 0
    captured_count: int = 0
    refunded_minor: int = 0
    refund_count: int = 0

    @property
    def net_minor(self) -> int:
        """Captured minus refunded."""
        return self.captured_minor - self.refunded_minor

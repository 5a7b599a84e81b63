"""How fresh gold is: the record the lakehouse service writes after every refresh.

``paystream lakehouse run`` refreshes gold continuously. After each refresh it stores one
:class:`GoldFreshness` in Redis, where the API (``GET /v1/status``), the dashboard and
``paystream lakehouse status`` read it without a JVM. The record says two things:

* ``covers_until``: gold holds every ledger change committed before this moment (the refresh
  read the ledger after it). Gold can lag the event stream by at most ``now - covers_until``;
  this is the lag the gauge exports and the runbook's alert watches.
* ``source_watermark``: the newest ledger change gold holds (its commit time), for audits.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime


def _stamp(moment: datetime | None) -> str:
    return "" if moment is None else moment.astimezone(UTC).isoformat()


def _moment(text: str | None) -> datetime | None:
    if not text:
        return None
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@dataclass(frozen=True)
class GoldFreshness:
    """One refresh's account of how far gold reaches into the ledger."""

    covers_until: datetime
    refreshed_at: datetime
    source_watermark: datetime | None
    refresh_s: float
    #: ``ok``, or ``failed: <reason>`` when the last refresh failed (gold kept its data).
    status: str = "ok"

    def lag_s(self, now: datetime | None = None) -> float:
        """Seconds gold may be behind the ledger at ``now``: changes committed since
        ``covers_until`` are not in it yet."""
        moment = now or datetime.now(UTC)
        return max(0.0, (moment - self.covers_until).total_seconds())

    def to_fields(self) -> dict[str, str]:
        """The Redis hash fields of this record."""
        return {
            "covers_until": _stamp(self.covers_until),
            "refreshed_at": _stamp(self.refreshed_at),
            "source_watermark": _stamp(self.source_watermark),
            "refresh_s": f"{self.refresh_s:.3f}",
            "status": self.status,
        }

    @classmethod
    def from_fields(cls, fields: Mapping[str, str]) -> GoldFreshness | None:
        """The record stored as ``fields``; None when nothing was stored (no service ran)."""
        covers, refreshed = _moment(fields.get("covers_until")), _moment(fields.get("refreshed_at"))
        if covers is None or refreshed is None:
            return None
        return cls(
            covers_until=covers,
            refreshed_at=refreshed,
            source_watermark=_moment(fields.get("source_watermark")),
            refresh_s=float(fields.get("refresh_s") or 0.0),
            status=fields.get("status") or "ok",
        )

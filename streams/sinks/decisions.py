"""Risk decisions in the ledger: one row per payment, from the decisions topic.

The risk agent publishes ``risk.decided``; the materializing worker reads that topic like any
other and stores each decision in ``risk_decisions`` in the batch's ledger transaction, so the
ledger keeps exactly one decision per payment however often a replay re-publishes it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.dialects.mysql import insert

from paystream.contracts.events import RiskDecided
from paystream.ledger.models import RiskDecision
from streams.sinks.ledger.sql import execute_rows
from streams.sinks.port import Envelope


def _naive_utc(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(tzinfo=None)


def decision_row(e: RiskDecided) -> dict[str, Any]:
    """The ``risk_decisions`` row of one decision event."""
    return {
        "payment_id": e.payment_id,
        "event_id": str(e.event_id),
        "customer_id": e.customer_id,
        "merchant_id": e.merchant_id,
        "card_fingerprint": e.card_fingerprint,
        "amount_minor": e.amount.amount_minor,
        "currency": e.amount.currency,
        "decision": str(e.decision),
        "score": e.score,
        "rules_score": e.rules_score,
        "reasons": ",".join(e.reasons),
        "model_version": e.model_version,
        "degraded": e.degraded,
        "features": json.dumps(e.features, sort_keys=True, allow_nan=False),
        "authorized_at": _naive_utc(e.authorized_at),
        "decided_at": _naive_utc(e.occurred_at),
    }


def write_decisions(conn: Connection, fresh: Sequence[Envelope]) -> None:
    """Insert the batch's new decisions; an existing row for the payment is kept."""
    rows = [decision_row(i.event) for i in fresh if isinstance(i.event, RiskDecided)]
    if not rows:
        return
    stmt = insert(RiskDecision)
    # First decision wins: a replay carries the same event id (already skipped as processed);
    # this only guards against a second authorization event for the same payment id.
    execute_rows(conn, stmt.on_duplicate_key_update(payment_id=stmt.inserted.payment_id), rows)

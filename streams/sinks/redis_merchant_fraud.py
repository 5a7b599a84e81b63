"""The Redis projection's part of the merchants' fraud rates (see its key layout and scripts
in :mod:`paystream.stores.merchant_fraud`).

Each batch records its authorizations in their merchant's ``payments`` and its refunds of any
reason in ``refunds`` (one script call per merchant and set), then its ``fraud_chargeback``
refunds in ``frauds``. Payments go first: a refund names a payment that the same partition
carried earlier, or earlier in this batch, so its authorization time is there to score the
fraud by. Every step is idempotent.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import redis
from redis.exceptions import NoScriptError

from paystream.contracts import Event
from paystream.contracts.events import PaymentAuthorized, RefundIssued, RefundReason
from paystream.stores.merchant_fraud import (
    MERCHANT_KEEP_MS,
    MERCHANT_TTL_S,
    RECORD_FRAUD,
    RECORD_PAYMENTS,
    SCRIPTS,
)
from paystream.stores.redis import RedisKeys, epoch_ms, load_scripts

# Payments per script call: bounds one call's time on the server.
PAIRS = 500


def _earliest(seen: dict[str, int], member: str, at: datetime) -> None:
    ms = epoch_ms(at)
    seen[member] = min(ms, seen.get(member, ms))


class MerchantFraudProjection:
    """Writes the merchants' payments and known frauds for the Redis state sink."""

    def __init__(self, client: redis.Redis[Any], keys: RedisKeys) -> None:
        self.client = client
        self.keys = keys

    def apply(self, events: Iterable[Event]) -> None:
        """Project a batch's authorizations and refunds, then its fraud chargebacks."""
        payments: dict[str, dict[str, int]] = defaultdict(dict)
        refunds: dict[str, dict[str, int]] = defaultdict(dict)
        frauds: list[tuple[str, str, int]] = []
        for event in events:
            if isinstance(event, PaymentAuthorized):
                _earliest(payments[event.merchant_id], event.payment_id, event.occurred_at)
            elif isinstance(event, RefundIssued):
                _earliest(refunds[event.merchant_id], event.refund_id, event.occurred_at)
                if event.reason is RefundReason.FRAUD_CHARGEBACK and event.payment_id:
                    label_ms = epoch_ms(event.occurred_at)
                    frauds.append((event.merchant_id, event.payment_id, label_ms))
        if not payments and not refunds:
            return
        try:
            self._write(payments, refunds, frauds)
        except NoScriptError:
            # Redis restarted or flushed its script cache: every write here is idempotent.
            load_scripts(self.client, *SCRIPTS)
            self._write(payments, refunds, frauds)

    def _record(self, pipe: Any, key: str, seen: dict[str, int]) -> None:
        pairs = [item for member, at in seen.items() for item in (at, member)]
        for start in range(0, len(pairs), 2 * PAIRS):
            pipe.evalsha(
                RECORD_PAYMENTS.sha,
                1,
                key,
                MERCHANT_TTL_S,
                MERCHANT_KEEP_MS,
                *pairs[start : start + 2 * PAIRS],
            )

    def _write(
        self,
        payments: dict[str, dict[str, int]],
        refunds: dict[str, dict[str, int]],
        frauds: list[tuple[str, str, int]],
    ) -> None:
        pipe: Any = self.client.pipeline(transaction=False)
        for merchant, seen in payments.items():
            self._record(pipe, self.keys.merchant_payments(merchant), seen)
        for merchant, issued in refunds.items():
            self._record(pipe, self.keys.merchant_refunds(merchant), issued)
        # One pipeline, in order: each fraud's payment is recorded before the fraud is.
        for merchant, payment_id, label_ms in frauds:
            pipe.evalsha(
                RECORD_FRAUD.sha,
                2,
                self.keys.merchant_payments(merchant),
                self.keys.merchant_frauds(merchant),
                payment_id,
                label_ms,
                MERCHANT_TTL_S,
                MERCHANT_KEEP_MS,
            )
        pipe.execute()

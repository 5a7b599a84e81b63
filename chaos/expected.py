"""What the stores must hold after a set of events: the oracle of every fault drill."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from paystream.contracts.events import Event, PaymentAuthorized, PaymentCaptured, RefundIssued
from paystream.ledger.totals import Totals


@dataclass
class Expected:
    """Distinct events, and merchant money by currency, that a clean pass would book."""

    events: int = 0
    money: dict[str, Totals] = field(default_factory=dict)


def expected_from(events: Iterable[Event]) -> Expected:
    """Distinct events by id; captured money once per payment, refunds once per refund.

    A capture books the authorized amount when the authorization is among the events, as the
    ledger's payment state machine does.
    """
    ids: set[object] = set()
    authorized: dict[str, int] = {}
    captured: dict[str, tuple[str, int]] = {}
    refunds: dict[str, tuple[str, int]] = {}
    for e in events:
        ids.add(e.event_id)
        if isinstance(e, PaymentAuthorized):
            authorized[e.payment_id] = e.amount.amount_minor
        elif isinstance(e, PaymentCaptured):
            captured.setdefault(e.payment_id, (e.amount.currency, e.amount.amount_minor))
        elif isinstance(e, RefundIssued):
            refunds.setdefault(e.refund_id, (e.amount.currency, e.amount.amount_minor))
    money: dict[str, list[int]] = {}
    for payment_id, (currency, amount) in captured.items():
        row = money.setdefault(currency, [0, 0, 0, 0])
        row[0] += authorized.get(payment_id, amount)
        row[1] += 1
    for currency, amount in refunds.values():
        row = money.setdefault(currency, [0, 0, 0, 0])
        row[2] += amount
        row[3] += 1
    return Expected(len(ids), {c: Totals(*v) for c, v in money.items()})


def money_diff(a: dict[str, Totals], b: dict[str, Totals]) -> int:
    """Sum of absolute differences of captured and refunded minor units over currencies."""
    diff = 0
    for currency in set(a) | set(b):
        x, y = a.get(currency, Totals()), b.get(currency, Totals())
        diff += abs(x.captured_minor - y.captured_minor) + abs(x.refunded_minor - y.refunded_minor)
    return diff


def count_excess(ledger: dict[str, Totals], expected: dict[str, Totals]) -> int:
    """Captures and refunds booked beyond the expected ones: money counted twice."""
    excess = 0
    for currency in set(ledger) | set(expected):
        x, y = ledger.get(currency, Totals()), expected.get(currency, Totals())
        excess += max(0, x.captured_count - y.captured_count)
        excess += max(0, x.refund_count - y.refund_count)
    return excess

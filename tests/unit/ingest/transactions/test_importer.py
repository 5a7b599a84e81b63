"""Imported transactions as events: registrations, chargebacks in event time, idempotent ids."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ingest.transactions.importer import ImportPlan, ImportSummary, select, to_events
from paystream.contracts.events import PaymentAuthorized, RefundIssued, RefundReason
from paystream.datasets.transactions import BadRow, ColumnMapping, Transaction

MAPPING = ColumnMapping(
    transaction_id="tx", timestamp="ts", customer="c", merchant="m", amount="a", currency_code="GBP"
)
T0 = datetime(2024, 3, 1, tzinfo=UTC)


def _t(n: int, hours: float, *, customer: str = "c1", fraud: bool = False) -> Transaction:
    return Transaction(
        row=n,
        transaction_id=f"t{n}",
        at=T0 + timedelta(hours=hours),
        customer_id=customer,
        merchant_id="m1",
        amount_minor=100 * n,
        currency="GBP",
        card_fingerprint=None,
        device_id=None,
        country=None,
        fraud=fraud,
    )


def _events(items: list[Transaction | BadRow], plan: ImportPlan) -> tuple[list, ImportSummary]:
    summary = ImportSummary()
    chosen, _ = select(items, plan, summary)
    return list(to_events(chosen, plan, summary)), summary


def test_rows_are_sent_in_event_time_order_with_registrations_first() -> None:
    events, summary = _events([_t(2, 5), _t(1, 1), _t(3, 3, customer="c2")], ImportPlan(MAPPING))
    types = [e.event_type for e in events]
    assert types[:2] == ["customer.registered", "merchant.registered"]
    times = [e.occurred_at for e in events]
    assert times == sorted(times)
    paid = [e.payment_id for e in events if isinstance(e, PaymentAuthorized)]
    assert paid == ["t1", "t3", "t2"]
    assert types.count("customer.registered") == 2 and types.count("merchant.registered") == 1
    assert summary.transactions == 3 and summary.accounted


def test_a_fraud_label_becomes_a_chargeback_after_the_delay_in_stream_order() -> None:
    plan = ImportPlan(MAPPING, chargeback_delay=timedelta(days=7))
    items: list[Transaction | BadRow] = [_t(1, 0, fraud=True), _t(2, 24 * 3), _t(3, 24 * 10)]
    events, summary = _events(items, plan)
    refund = next(e for e in events if isinstance(e, RefundIssued))
    assert refund.reason is RefundReason.FRAUD_CHARGEBACK
    assert refund.payment_id == "t1" and refund.amount.amount_minor == 100
    assert refund.occurred_at == T0 + timedelta(days=7, seconds=1)
    # Released between day 3's and day 10's payments: the topic stays in event time.
    order = [getattr(e, "payment_id", None) for e in events if e.event_type != "payment.captured"]
    assert order.index("t2") < order.index("t1", order.index("t2")) < order.index("t3")
    assert summary.fraud == 1


def test_the_time_range_selects_and_counts_what_it_leaves_out() -> None:
    plan = ImportPlan(MAPPING, since=T0 + timedelta(hours=2), until=T0 + timedelta(hours=4))
    items: list[Transaction | BadRow] = [_t(1, 1), _t(2, 2), _t(3, 3.5), _t(4, 4)]
    events, summary = _events(items, plan)
    assert [e.payment_id for e in events if isinstance(e, PaymentAuthorized)] == ["t2", "t3"]
    assert (summary.rows, summary.out_of_range, summary.transactions) == (4, 2, 2)
    assert summary.accounted


def test_duplicate_ids_and_bad_rows_are_routed_and_counted() -> None:
    bad = BadRow(3, "bad_amount", "x", b"{}")
    items: list[Transaction | BadRow] = [_t(1, 1), _t(1, 2), bad]
    summary = ImportSummary()
    chosen, routed = select(items, ImportPlan(MAPPING), summary)
    assert [t.row for t in chosen] == [1]
    assert sorted(r.reason for r in routed) == ["bad_amount", "duplicate_transaction_id"]
    assert summary.routed == {"bad_amount": 1, "duplicate_transaction_id": 1}
    list(to_events(chosen, ImportPlan(MAPPING), summary))
    assert summary.accounted


def test_importing_twice_yields_the_same_event_ids() -> None:
    items: list[Transaction | BadRow] = [_t(1, 1, fraud=True), _t(2, 2)]
    first, _ = _events(items, ImportPlan(MAPPING))
    second, _ = _events(list(reversed(items)), ImportPlan(MAPPING))
    assert [e.event_id for e in first] == [e.event_id for e in second]
    assert len({e.event_id for e in first}) == len(first)

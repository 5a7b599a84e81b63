import random
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text

from ingest.simulator.generator import SimulationConfig, simulate
from paystream.contracts.events import (
    PaymentAuthorized,
    PaymentCaptured,
    PaymentFailed,
    RefundIssued,
    event_id_for,
)
from paystream.ledger.models import Balance, Payment, ProcessedEvent, Refund
from paystream.money import Money
from paystream.stores.mysql import Database
from streams.sinks.ledger import LedgerSink
from streams.sinks.port import Envelope
from tests.integration.streams.dumps import TABLES, ledger_dump


@pytest.fixture
def ledger(ledger_settings):
    database = Database(ledger_settings)
    yield LedgerSink(database)
    database.dispose()


def envelopes(events, topic="paystream.payments"):
    return [Envelope(e, topic, 0, i) for i, e in enumerate(events)]


def dump(database):
    return ledger_dump(database, tables=[t for t in TABLES if t != "processed_events"])


def sim_events(seed, customers=40, days=2):
    return [
        event
        for event, _ in simulate(
            SimulationConfig(seed=seed, customers=customers, days=days, merchants=8)
        )
    ]


def test_replaying_the_same_events_leaves_the_ledger_identical(ledger):
    events = sim_events(11)
    for start in range(0, len(events), 300):
        ledger.write(envelopes(events[start : start + 300]))
    first = dump(ledger.database)
    # Replay overlapping stretches of the log, as a restarted worker would.
    for start in range(0, len(events), 170):
        ledger.write(envelopes(events[start : start + 450]))
    assert dump(ledger.database) == first
    with ledger.database.writer.connect() as conn:
        assert conn.execute(select(func.count()).select_from(ProcessedEvent)).scalar_one() >= len(
            {e.event_id for e in events}
        )


def test_payment_state_is_the_same_whatever_the_arrival_order(ledger, unique):
    at = datetime(2026, 2, 1, 12, tzinfo=UTC)
    money = Money(amount_minor=12_345, currency="HKD")
    common = {"customer_id": f"{unique}-c", "merchant_id": f"{unique}-m", "amount": money}
    pid = f"{unique}-p1"
    events = [
        PaymentAuthorized(
            event_id=event_id_for(unique, 1),
            occurred_at=at,
            payment_id=pid,
            card_fingerprint="ab" * 16,
            **common,
        ),
        PaymentCaptured(
            event_id=event_id_for(unique, 2),
            occurred_at=at + timedelta(seconds=5),
            payment_id=pid,
            **common,
        ),
        RefundIssued(
            event_id=event_id_for(unique, 3),
            occurred_at=at + timedelta(days=1),
            refund_id=f"{unique}-r1",
            payment_id=pid,
            customer_id=common["customer_id"],
            merchant_id=common["merchant_id"],
            amount=Money(amount_minor=345, currency="HKD"),
        ),
    ]
    # Refund first, then capture, then authorization: one event per batch.
    for event in reversed(events):
        ledger.write(envelopes([event]))
    with ledger.database.writer.connect() as conn:
        row = (
            conn.execute(select(Payment.__table__).where(Payment.payment_id == pid))
            .mappings()
            .one()
        )
        balance = (
            conn.execute(select(Balance.__table__).where(Balance.owner_id == f"{unique}-m"))
            .mappings()
            .one()
        )
    assert row["status"] == "partially_refunded"
    assert row["card_fingerprint"] == "ab" * 16
    assert row["authorized_at"] is not None and row["captured_at"] is not None
    assert (balance["captured_minor"], balance["captured_count"]) == (12_345, 1)
    assert (balance["refunded_minor"], balance["refund_count"]) == (345, 1)


def test_a_duplicate_capture_under_another_event_id_moves_money_once(ledger, unique):
    at = datetime(2026, 2, 2, tzinfo=UTC)
    common = {
        "customer_id": f"{unique}-c",
        "merchant_id": f"{unique}-m",
        "payment_id": f"{unique}-p",
        "amount": Money(amount_minor=500, currency="GBP"),
    }
    ledger.write(
        envelopes([PaymentCaptured(event_id=event_id_for(unique, "a"), occurred_at=at, **common)])
    )
    ledger.write(
        envelopes([PaymentCaptured(event_id=event_id_for(unique, "b"), occurred_at=at, **common)])
    )
    snapshot = ledger.write(
        envelopes(
            [
                PaymentFailed(
                    event_id=event_id_for(unique, "c"),
                    occurred_at=at,
                    failure_code="processing_error",
                    **common,
                )
            ]
        )
    )
    assert snapshot.merchants[(f"{unique}-m", "GBP")].captured_minor == 500
    assert snapshot.pairs[(f"{unique}-c", f"{unique}-m", "GBP")].payment_count == 1


def test_money_totals_reconcile_with_the_payments_table(ledger):
    events = sim_events(23, customers=60, days=3)
    rng = random.Random(5)
    batches = [events[i : i + 250] for i in range(0, len(events), 250)]
    rng.shuffle(batches)  # out of order across batches
    for batch in batches:
        ledger.write(envelopes(batch))
    with ledger.database.writer.connect() as conn:
        captured = conn.execute(
            text(
                "SELECT currency, SUM(amount_minor), COUNT(*) FROM payments "
                "WHERE captured_at IS NOT NULL AND merchant_id LIKE 'sim23%' GROUP BY currency"
            )
        ).all()
        balances = conn.execute(
            text(
                "SELECT currency, SUM(captured_minor), SUM(captured_count) FROM balances "
                "WHERE owner_kind='merchant' AND owner_id LIKE 'sim23%' GROUP BY currency"
            )
        ).all()
    assert sorted(map(tuple, captured)) == sorted(map(tuple, balances))
    assert captured


def test_a_poison_record_is_dead_lettered_and_the_rest_of_its_batch_applied(ledger_settings):
    from sqlalchemy import text as sql_text

    from streams.pipeline import LedgerPipeline
    from streams.validation import RawRecord

    # A seed of its own: the session's ledger may already hold other tests' simulated events.
    events = sim_events(random.randrange(10**9), customers=6, days=1)[:60]
    poison = events[17].event_id

    class PoisonedLedger(LedgerSink):
        # MariaDB itself refuses the write when the poison event is in it: a real DataError
        # (out of range for an INT column), as a value the contracts failed to bound would.
        def write(self, batch):
            if any(item.event.event_id == poison for item in batch):
                with self.database.writer.begin() as conn:
                    conn.execute(
                        sql_text(
                            "INSERT INTO order_lines (order_id, line_no, sku, description,"
                            " quantity, unit_price_minor) VALUES ('x', 99999999999, 's', '', 1, 1)"
                        )
                    )
            return super().write(batch)

    database = Database(ledger_settings)
    try:
        pipeline = LedgerPipeline(PoisonedLedger(database))
        records = [
            RawRecord(f"paystream.{e.topic}", 0, i, e.to_bytes()) for i, e in enumerate(events)
        ]
        result = pipeline.process(records)
        assert [d.offset for d in result.dead_letters] == [17]
        assert result.dead_letters[0].reason == "ledger_rejected"
        assert "Out of range" in result.dead_letters[0].detail
        with database.writer.connect() as conn:
            done = set(
                conn.execute(
                    select(ProcessedEvent.event_id).where(
                        ProcessedEvent.event_id.in_([str(e.event_id) for e in events])
                    )
                ).scalars()
            )
        assert done == {str(e.event_id) for e in events} - {str(poison)}
    finally:
        database.dispose()


def _money_rows(database, unique):
    with database.writer.connect() as conn:
        payments = conn.execute(
            select(Payment.amount_minor, Payment.currency, Payment.refunded_minor).where(
                Payment.merchant_id == f"{unique}-m"
            )
        ).all()
        balances = conn.execute(
            select(
                Balance.currency,
                Balance.captured_minor,
                Balance.captured_count,
                Balance.refunded_minor,
                Balance.refund_count,
            ).where(Balance.owner_kind == "merchant", Balance.owner_id == f"{unique}-m")
        ).all()
        refunds = conn.execute(
            select(func.count()).select_from(Refund).where(Refund.merchant_id == f"{unique}-m")
        ).scalar_one()
    return [tuple(r) for r in payments], [tuple(r) for r in balances], refunds


def _captured(unique, amount_minor=1_000, currency="HKD", at=None):
    return PaymentCaptured(
        event_id=event_id_for(unique, "cap"),
        occurred_at=at or datetime(2026, 2, 3, tzinfo=UTC),
        payment_id=f"{unique}-p",
        customer_id=f"{unique}-c",
        merchant_id=f"{unique}-m",
        amount=Money(amount_minor=amount_minor, currency=currency),
    )


def _refund_of(unique, n, amount_minor, currency="HKD", merchant="m", hours=1):
    return RefundIssued(
        event_id=event_id_for(unique, "refund", n),
        occurred_at=datetime(2026, 2, 3, tzinfo=UTC) + timedelta(hours=hours),
        refund_id=f"{unique}-r{n}",
        payment_id=f"{unique}-p",
        customer_id=f"{unique}-c",
        merchant_id=f"{unique}-{merchant}",
        amount=Money(amount_minor=amount_minor, currency=currency),
    )


def test_a_refund_beyond_what_is_left_is_dead_lettered_and_never_booked(ledger, unique):
    ledger.write(envelopes([_captured(unique)]))
    fits, too_much = _refund_of(unique, 1, 700), _refund_of(unique, 2, 301, hours=2)
    batch = envelopes([fits, too_much])
    snapshot = ledger.write(batch)
    assert [(d.reason, d.offset) for d in snapshot.refused] == [("refund_exceeds_captured", 1)]
    assert "300 left" in snapshot.refused[0].detail
    payments, balances, refunds = _money_rows(ledger.database, unique)
    assert payments == [(1_000, "HKD", 700)]
    assert balances == [("HKD", 1_000, 1, 700, 1)]
    assert refunds == 1
    # A retried batch (the worker died before sending it) sends the dead letter again.
    assert [d.reason for d in ledger.write(batch).refused] == ["refund_exceeds_captured"]
    assert _money_rows(ledger.database, unique) == (payments, balances, refunds)


def test_refunds_in_another_currency_or_for_another_merchant_are_refused(ledger, unique):
    ledger.write(envelopes([_captured(unique)]))
    snapshot = ledger.write(
        envelopes([_refund_of(unique, 1, 10, "USD"), _refund_of(unique, 2, 10, merchant="x")])
    )
    assert sorted(d.reason for d in snapshot.refused) == [
        "refund_currency_mismatch",
        "refund_merchant_mismatch",
    ]
    payments, balances, refunds = _money_rows(ledger.database, unique)
    assert (payments, balances, refunds) == ([(1_000, "HKD", 0)], [("HKD", 1_000, 1, 0, 0)], 0)


def test_a_refund_before_its_capture_waits_and_is_decided_when_the_capture_arrives(ledger, unique):
    early = [_refund_of(unique, 1, 600), _refund_of(unique, 2, 600, hours=2)]
    assert ledger.write(envelopes(early)).refused == []
    # Held, not booked: no balance moves before the payment is captured.
    assert _money_rows(ledger.database, unique) == ([], [], 0)
    snapshot = ledger.write(envelopes([_captured(unique)], topic="paystream.payments"))
    # The older refund fits; the second would exceed what was captured.
    assert [d.reason for d in snapshot.refused] == ["refund_exceeds_captured"]
    payments, balances, refunds = _money_rows(ledger.database, unique)
    assert (payments, balances, refunds) == ([(1_000, "HKD", 600)], [("HKD", 1_000, 1, 600, 1)], 1)


def test_a_capture_before_its_authorization_leaves_balances_equal_to_the_payment_row(
    ledger, unique
):
    capture = _captured(unique, amount_minor=900)
    auth = PaymentAuthorized(
        event_id=event_id_for(unique, "auth"),
        occurred_at=capture.occurred_at - timedelta(seconds=5),
        payment_id=capture.payment_id,
        customer_id=capture.customer_id,
        merchant_id=capture.merchant_id,
        amount=Money(amount_minor=1_000, currency="HKD"),
    )
    ledger.write(envelopes([capture]))
    ledger.write(envelopes([auth]))
    payments, balances, _ = _money_rows(ledger.database, unique)
    assert payments == [(900, "HKD", 0)]
    assert balances == [("HKD", 900, 1, 0, 0)]


def test_a_capture_naming_another_merchant_is_refused(ledger, unique):
    ledger.write(envelopes([_captured(unique)]))
    other = _captured(unique).model_copy(
        update={"event_id": event_id_for(unique, "other"), "merchant_id": f"{unique}-x"}
    )
    snapshot = ledger.write(envelopes([other]))
    assert [d.reason for d in snapshot.refused] == ["payment_party_mismatch"]
    assert _money_rows(ledger.database, unique)[1] == [("HKD", 1_000, 1, 0, 0)]


@pytest.fixture
def two_ledgers(stack, settings):
    """Two fresh ledgers: one for a clean pass, one for the same batch written concurrently."""
    import uuid

    from harness.worlds import create_ledger_database, drop_ledger_database

    names = [f"paystream_test_{uuid.uuid4().hex[:8]}" for _ in range(2)]
    databases = [Database(create_ledger_database(settings.mysql, n)) for n in names]
    yield databases
    for database, name in zip(databases, names, strict=True):
        database.dispose()
        drop_ledger_database(settings.mysql, name)


def test_two_workers_writing_the_same_batch_at_once_leave_the_state_of_one_clean_pass(
    two_ledgers,
):
    import threading

    events = sim_events(23, customers=60)
    batch = envelopes(events)
    clean, contested = two_ledgers
    LedgerSink(clean).write(batch)
    # Both claim the same keys: one waits on the other's claim, then finds the events done.
    start = threading.Barrier(2)
    failures: list[BaseException] = []

    def write() -> None:
        start.wait()
        try:
            LedgerSink(contested).write(batch)
        except BaseException as exc:  # surfaced below, with the thread's own error
            failures.append(exc)

    threads = [threading.Thread(target=write) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert failures == []
    assert ledger_dump(contested) == ledger_dump(clean)
    with contested.writer.connect() as conn:
        claimed = conn.execute(select(func.count()).select_from(ProcessedEvent)).scalar_one()
    assert claimed == len({e.event_id for e in events})


def test_a_batch_partly_applied_before_claims_and_applies_only_its_new_events(ledger, unique):
    events = sim_events(29)
    half = len(events) // 2
    ledger.write(envelopes(events[:half]))
    before = dump(ledger.database)
    # Overlapping: the first claim fails on the old half, and the retry claims only the rest.
    ledger.write(envelopes(events[half // 2 :]))
    after_overlap = dump(ledger.database)
    ledger.write(envelopes(events))
    assert dump(ledger.database) == after_overlap != before

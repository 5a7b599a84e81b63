import random
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text

from paystream.contracts.events import (
    PaymentAuthorized,
    PaymentCaptured,
    PaymentFailed,
    RefundIssued,
    event_id_for,
)
from paystream.ledger.models import Balance, Payment, ProcessedEvent
from paystream.money import Money
from paystream.producers.simulate import SimulationConfig, simulate
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

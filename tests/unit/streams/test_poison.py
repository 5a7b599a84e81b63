"""Transient errors are waited out; a poison record is isolated and dead-lettered alone."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pymysql
import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy.exc import DataError, IntegrityError, OperationalError, ProgrammingError

from paystream.contracts.events import CustomerRegistered
from paystream.errors import ServiceUnavailableError
from paystream.ledger.totals import Totals
from paystream.retry import is_transient
from streams.poison import bisect_write, is_deterministic
from streams.sinks.port import Envelope, LedgerSnapshot


def wrapped(kind, code: int, message: str):
    return kind("INSERT ...", {}, pymysql.err.MySQLError(code, message))


@pytest.mark.parametrize(
    "exc",
    [
        wrapped(OperationalError, 2013, "Lost connection to MySQL server during query"),
        wrapped(OperationalError, 1213, "Deadlock found when trying to get lock"),
        wrapped(IntegrityError, 1062, "Duplicate entry 'x' for key 'processed_events.PRIMARY'"),
        RedisConnectionError("refused"),
        ServiceUnavailableError("Gremlin", "ws://x", "down"),
        ConnectionResetError(),
    ],
)
def test_store_outages_and_concurrent_claims_are_waited_out(exc):
    assert is_transient(exc) and not is_deterministic(exc)


@pytest.mark.parametrize(
    "exc",
    [
        wrapped(DataError, 1264, "Out of range value for column 'line_no'"),
        wrapped(DataError, 1406, "Data too long for column 'name'"),
        wrapped(IntegrityError, 1452, "Cannot add or update a child row"),
        wrapped(IntegrityError, 1062, "Duplicate entry 'x' for key 'refunds.PRIMARY'"),
        wrapped(ProgrammingError, 1064, "You have an error in your SQL syntax"),
    ],
)
def test_errors_the_same_records_would_raise_again_are_deterministic(exc):
    assert is_deterministic(exc) and not is_transient(exc)


def envelopes(n: int) -> list[Envelope]:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    return [
        Envelope(
            CustomerRegistered(
                event_id=uuid.uuid4(), occurred_at=at, customer_id=f"c{i}", country="HK"
            ),
            "t",
            0,
            i,
        )
        for i in range(n)
    ]


def test_bisection_dead_letters_only_the_poison_records_and_keeps_the_order():
    batch = envelopes(37)
    poison = {batch[5].offset, batch[30].offset}
    written: list[int] = []

    def write(part):
        if any(item.offset in poison for item in part):
            raise wrapped(DataError, 1264, "Out of range value")
        written.extend(item.offset for item in part)
        return LedgerSnapshot(customers={(part[-1].event.customer_id, "HKD"): Totals(1, 0, 0, 0)})

    snapshot, dead = bisect_write(write, batch, wrapped(DataError, 1264, "Out of range value"))
    assert sorted(d.offset for d in dead) == sorted(poison)
    assert {d.reason for d in dead} == {"ledger_rejected"}
    assert "Out of range" in dead[0].detail
    assert written == [i for i in range(37) if i not in poison]  # everything else, in order
    assert len(snapshot.customers) > 1


def test_a_store_outage_during_bisection_is_not_mistaken_for_poison():
    batch = envelopes(4)

    def write(part):
        raise wrapped(OperationalError, 2013, "Lost connection")

    with pytest.raises(OperationalError):
        bisect_write(write, batch, wrapped(DataError, 1264, "Out of range value"))

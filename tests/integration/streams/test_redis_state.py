"""The Redis projection against the real local Redis, each test in its own key namespace."""

import math
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import redis
from pydantic import SecretStr
from redis.client import Pipeline

from paystream.contracts.events import (
    CustomerRegistered,
    MerchantRegistered,
    PaymentAuthorized,
    PaymentCaptured,
    RefundIssued,
    SessionEnded,
    SessionStarted,
    event_id_for,
)
from paystream.errors import ServiceUnavailableError
from paystream.ledger.totals import Totals
from paystream.money import Money
from paystream.settings import RedisSettings
from streams.sinks.port import Envelope, LedgerSnapshot
from streams.sinks.redis_graph_cache import CHUNK as GRAPH_CHUNK
from streams.sinks.redis_state import (
    CHUNK_COMMANDS,
    ENDED_TTL_S,
    SCRIPT_PAIRS,
    WINDOW_KEY_TTL_S,
    RedisStateSink,
    WindowFeatures,
)

CARD = "cd" * 16


@pytest.fixture
def raw(stack, settings):
    client = redis.Redis.from_url(settings.redis.url.get_secret_value(), decode_responses=True)
    yield client
    client.close()


@pytest.fixture
def sink(stack, settings, unique, raw):
    state = RedisStateSink(settings.redis, namespace=unique)
    yield state
    state.close()
    keys = list(raw.scan_iter(match=f"{unique}:*", count=500))
    if keys:
        raw.delete(*keys)


def envelopes(events):
    return [Envelope(e, f"paystream.{e.topic}", 0, i) for i, e in enumerate(events)]


def dump(raw, namespace):
    """Every key of the namespace with its type, value and whether it carries a TTL."""
    state = {}
    for key in raw.scan_iter(match=f"{namespace}:*", count=500):
        kind = raw.type(key)
        if kind == "hash":
            value = raw.hgetall(key)
        elif kind == "zset":
            value = raw.zrange(key, 0, -1, withscores=True)
        else:
            value = raw.dump(key)
        state[key] = (kind, value, raw.ttl(key) > 0)
    return state


def started(session_id, at, customer="c-1", device="d-1"):
    return SessionStarted(
        event_id=event_id_for("test", "started", session_id),
        occurred_at=at,
        session_id=session_id,
        customer_id=customer,
        device_id=device,
        ip_country="Hong Kong",
        channel="android",
    )


def ended(session_id, at, customer="c-1"):
    return SessionEnded(
        event_id=event_id_for("test", "ended", session_id),
        occurred_at=at,
        session_id=session_id,
        customer_id=customer,
        reason="timeout",
    )


def authorized(payment_id, at, amount, currency="HKD", customer="c-1", card=CARD, device="d-1"):
    return PaymentAuthorized(
        event_id=event_id_for("test", "auth", payment_id),
        occurred_at=at,
        payment_id=payment_id,
        customer_id=customer,
        merchant_id="m-1",
        amount=Money(amount_minor=amount, currency=currency),
        card_fingerprint=card,
        device_id=device,
    )


def mixed_batch(now):
    events = [
        CustomerRegistered(
            event_id=event_id_for("test", "cust", "c-1"),
            occurred_at=now - timedelta(days=3),
            customer_id="c-1",
            country="Hong Kong",
            email_sha256="e" * 64,
        ),
        MerchantRegistered(
            event_id=event_id_for("test", "merchant", "m-1"),
            occurred_at=now - timedelta(days=30),
            merchant_id="m-1",
            name="Harbour Hotel",
            category="hotel",
            country="Hong Kong",
            settlement_currency="HKD",
        ),
        started("s-1", now - timedelta(minutes=10)),
        ended("s-1", now - timedelta(minutes=1)),
        started("s-2", now - timedelta(minutes=2), customer="c-2", device="d-2"),
    ]
    for i in range(20):
        at = now - timedelta(minutes=7 * i)
        events.append(authorized(f"p-{i}", at, 1_000 + i))
        events.append(
            PaymentCaptured(
                event_id=event_id_for("test", "cap", i),
                occurred_at=at,
                payment_id=f"p-{i}",
                customer_id="c-1",
                merchant_id="m-1",
                amount=Money(amount_minor=1_000 + i, currency="HKD"),
            )
        )
    events.append(
        RefundIssued(
            event_id=uuid.uuid4(),
            occurred_at=now,
            refund_id="r-1",
            payment_id="p-0",
            customer_id="c-1",
            merchant_id="m-1",
            amount=Money(amount_minor=500, currency="HKD"),
        )
    )
    return envelopes(events)


SNAPSHOT = LedgerSnapshot(
    merchants={
        ("m-1", "HKD"): Totals(
            captured_minor=20_190, captured_count=20, refunded_minor=500, refund_count=1
        ),
        ("m-1", "GBP"): Totals(captured_minor=75, captured_count=1),
    },
    customers={
        ("c-1", "HKD"): Totals(
            captured_minor=20_190, captured_count=20, refunded_minor=500, refund_count=1
        )
    },
)


def test_applying_the_same_batch_twice_leaves_identical_state(sink, raw, unique):
    batch = mixed_batch(datetime.now(UTC))
    sink.apply(batch, SNAPSHOT)
    first = dump(raw, unique)
    assert len(first) >= 8  # 2 profiles, 2 sessions, 2 totals, 3 windows
    sink.apply(batch, SNAPSHOT)
    assert dump(raw, unique) == first


def test_totals_are_the_ledgers_absolute_values_never_summed(sink, raw, unique):
    batch = mixed_batch(datetime.now(UTC))
    for _ in range(3):
        sink.apply(batch, SNAPSHOT)
    assert sink.totals("merchant", "m-1") == {
        "HKD": SNAPSHOT.merchants[("m-1", "HKD")],
        "GBP": SNAPSHOT.merchants[("m-1", "GBP")],
    }
    assert sink.totals("customer", "c-1") == {"HKD": SNAPSHOT.customers[("c-1", "HKD")]}
    stored = raw.hgetall(f"{unique}:totals:merchant:m-1")
    assert stored["HKD:captured_minor"] == "20190"
    assert stored["HKD:net_minor"] == "19690"
    # A later snapshot replaces the values outright.
    later = Totals(captured_minor=30_000, captured_count=25, refunded_minor=500, refund_count=1)
    sink.apply([], LedgerSnapshot(merchants={("m-1", "HKD"): later}))
    assert sink.totals("merchant", "m-1")["HKD"] == later
    assert sink.totals("merchant", "nobody") == {}


def test_an_older_totals_snapshot_arriving_late_never_overwrites_a_newer_one(sink):
    # Two workers touched the same merchant; the one with the older snapshot writes last.
    newer = Totals(captured_minor=9_000, captured_count=3, refunded_minor=1_000, refund_count=1)
    older = Totals(captured_minor=6_000, captured_count=2, refunded_minor=0, refund_count=0)
    other = Totals(captured_minor=700, captured_count=1)
    sink.apply([], LedgerSnapshot(merchants={("m-9", "HKD"): newer}))
    sink.apply([], LedgerSnapshot(merchants={("m-9", "HKD"): older, ("m-9", "GBP"): other}))
    assert sink.totals("merchant", "m-9") == {"HKD": newer, "GBP": other}
    # The same snapshot again (a replay) is accepted and changes nothing.
    sink.apply([], LedgerSnapshot(merchants={("m-9", "HKD"): newer}))
    assert sink.totals("merchant", "m-9")["HKD"] == newer


def test_profiles_hold_only_the_registration_fields(sink):
    sink.apply(mixed_batch(datetime.now(UTC)), LedgerSnapshot())
    customer = sink.profile("customer", "c-1")
    assert customer["country"] == "Hong Kong"
    assert customer["email_sha256"] == "e" * 64
    assert customer["guest"] == "0"
    assert set(customer) == {"customer_id", "country", "email_sha256", "guest", "registered_at"}
    merchant = sink.profile("merchant", "m-1")
    assert merchant["category"] == "hotel" and merchant["settlement_currency"] == "HKD"
    assert sink.profile("customer", "nobody") == {}


def test_window_counts_and_amounts_at_the_1m_1h_24h_boundaries(sink, raw, unique):
    now = datetime.now(UTC).replace(microsecond=0)
    events = [
        authorized("p30s", now - timedelta(seconds=30), 100),
        authorized("p30m", now - timedelta(minutes=30), 200),
        authorized("p23h", now - timedelta(hours=23), 400),
        authorized("p25h", now - timedelta(hours=25), 800),
        authorized("p9d", now - timedelta(days=9), 1600),
        # Older than the day and the slack together: trimmed on write.
        authorized("p70d", now - timedelta(days=70), 1600),
    ]
    expected = WindowFeatures(
        count_1m=1,
        amount_1m_minor=100,
        count_1h=2,
        amount_1h_minor=300,
        count_24h=3,
        amount_24h_minor=700,
        currency="HKD",
    )
    sink.apply(envelopes(events), LedgerSnapshot())
    sink.apply(envelopes(events), LedgerSnapshot())  # replay: ZADD of the same members
    for kind, entity in (("customer", "c-1"), ("card", CARD), ("device", "d-1")):
        assert sink.window_features(kind, entity, now) == expected
        key = f"{unique}:{{{kind}:{entity}}}:win"
        # Kept past the day (an agent behind the projection still reads it) but not counted;
        # the 70-day-old member was trimmed on write, relative to the newest event.
        assert raw.zcard(key) == 5
        assert WINDOW_KEY_TTL_S - 60 < raw.ttl(key) <= WINDOW_KEY_TTL_S
    # A late, stale event cannot be re-added past the trim, whatever the arrival order.
    sink.apply(envelopes([authorized("p71d", now - timedelta(days=71), 3200)]), LedgerSnapshot())
    assert raw.zcard(f"{unique}:{{customer:c-1}}:win") == 5
    # Scoring as of an earlier moment sees nothing that happened after it.
    earlier = sink.window_features("customer", "c-1", now - timedelta(minutes=20))
    assert (earlier.count_1h, earlier.amount_1h_minor) == (1, 200)
    assert sink.window_features("device", "unknown", now) == WindowFeatures()
    # The merchant's own window holds the same; another merchant's is its own.
    assert sink.window_features("customer", "c-1", now, merchant_id="m-1") == expected
    assert sink.window_features("customer", "c-1", now, merchant_id="m-2") == WindowFeatures()


def test_a_session_has_a_ttl_that_ending_shortens(sink, raw, unique, settings):
    now = datetime.now(UTC)
    sink.apply(envelopes([started("s-9", now)]), LedgerSnapshot())
    key = f"{unique}:session:s-9"
    assert sink.session("s-9")["state"] == "active"
    assert settings.redis.session_ttl_s - 60 < raw.ttl(key) <= settings.redis.session_ttl_s
    sink.apply(envelopes([ended("s-9", now + timedelta(minutes=3))]), LedgerSnapshot())
    session = sink.session("s-9")
    assert session["state"] == "ended" and session["end_reason"] == "timeout"
    assert session["device_id"] == "d-1"
    assert 0 < raw.ttl(key) <= ENDED_TTL_S
    assert sink.session("never-seen") is None


@pytest.mark.parametrize("same_batch", [True, False])
def test_an_ended_that_arrives_before_started_stays_ended(sink, raw, unique, same_batch):
    now = datetime.now(UTC)
    late_start, early_end = started("s-7", now - timedelta(minutes=4)), ended("s-7", now)
    if same_batch:
        sink.apply(envelopes([early_end, late_start]), LedgerSnapshot())
    else:
        sink.apply(envelopes([early_end]), LedgerSnapshot())
        sink.apply(envelopes([late_start]), LedgerSnapshot())
        sink.apply(envelopes([late_start]), LedgerSnapshot())  # and a replay of it
    session = sink.session("s-7")
    assert session["state"] == "ended"
    assert session["ended_at"] == now.isoformat()
    assert session["channel"] == "android"  # the started fields are still recorded
    assert 0 < raw.ttl(f"{unique}:session:s-7") <= ENDED_TTL_S


def test_a_batch_goes_out_in_a_few_pipelined_round_trips(sink, monkeypatch):
    now = datetime.now(UTC)
    events = [started(f"s-{i}", now, customer=f"c-{i}", device=f"d-{i}") for i in range(400)]
    events += [
        authorized(f"p-{i}", now - timedelta(seconds=i), 100, customer=f"c-{i}", device=f"d-{i}")
        for i in range(400)
    ]
    batch = envelopes(events)
    # Warm up: opens the pooled connection (HELLO/CLIENT SETINFO) and loads the script.
    sink.apply(batch[:1] + batch[400:401], LedgerSnapshot())

    connection_class = sink._client.connection_pool.connection_class
    real_send, real_execute = connection_class.send_packed_command, Pipeline.execute
    writes, pipelines = [], []

    def counting_send(self, command, check_health=True):
        writes.append(1)
        return real_send(self, command, check_health)

    def counting_execute(self, raise_on_error=True):
        pipelines.append(len(self.command_stack))
        return real_execute(self, raise_on_error)

    monkeypatch.setattr(connection_class, "send_packed_command", counting_send)
    monkeypatch.setattr(Pipeline, "execute", counting_execute)
    sink.apply(batch, LedgerSnapshot())
    monkeypatch.undo()

    commands = sum(pipelines)
    # 3 per started session; one script call per customer and device, and for the shared
    # card one per SCRIPT_PAIRS members: for the shared window and for the merchant's own.
    state = 3 * 400 + 2 * (400 + math.ceil(400 / SCRIPT_PAIRS) + 400)
    # The graph cache: 800 distinct uses (a device and the card per customer), each in two
    # steps, then the mark; one pipeline with one call recording the merchant's payments; and
    # one with the projection's progress.
    uses = 800
    assert commands == state + 2 * uses + 1 + 1 + 1
    steps = math.ceil(uses / GRAPH_CHUNK)
    assert len(pipelines) == math.ceil(state / CHUNK_COMMANDS) + 2 * steps + 1 + 1 + 1
    # Every write to the socket is a whole pipeline: one round trip per chunk, not per key.
    assert len(writes) == len(pipelines)


def test_an_unreachable_redis_is_reported_as_unavailable_without_the_password():
    settings = RedisSettings(url=SecretStr("redis://:s3cret@127.0.0.1:1/0"))
    sink = RedisStateSink(settings, namespace="nowhere")
    try:
        with pytest.raises(ServiceUnavailableError) as error:
            sink.apply(envelopes([started("s-1", datetime.now(UTC))]), LedgerSnapshot())
        assert "redis://127.0.0.1:1/0" in str(error.value)
        assert "s3cret" not in str(error.value)
        with pytest.raises(ServiceUnavailableError):
            sink.window_features("customer", "c-1", datetime.now(UTC))
        with pytest.raises(ServiceUnavailableError):
            sink.session("s-1")
    finally:
        sink.close()

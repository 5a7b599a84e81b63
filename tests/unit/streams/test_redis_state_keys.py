"""Pure parts of the Redis projection: keys, member encoding, window arithmetic, planning.

No network: the sink is pointed at a closed port and its client replaced by a recorder.
"""

import hashlib
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import SecretStr
from redis.exceptions import NoScriptError

from paystream.contracts.events import (
    CustomerRegistered,
    PaymentAuthorized,
    SessionEnded,
    SessionStarted,
)
from paystream.ledger.totals import Totals
from paystream.money import Money
from paystream.settings import RedisSettings
from paystream.stores.graph_cache import LINK_A, MARK
from paystream.stores.merchant_fraud import MERCHANT_KEEP_MS, MERCHANT_TTL_S, RECORD_PAYMENTS
from paystream.stores.progress import PROGRESS
from paystream.stores.redis import WINDOW, parse_totals, totals_fields
from streams.sinks.port import Envelope, LedgerSnapshot
from streams.sinks.redis_state import (
    DAY_MS,
    TOTALS_SCRIPT,
    TOTALS_SCRIPT_SHA,
    RedisKeys,
    RedisStateSink,
    WindowFeatures,
    decode_member,
    encode_member,
    epoch_ms,
    redis_where,
    summarize_window,
)

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
NOW_MS = epoch_ms(NOW)


def at(delta: timedelta) -> int:
    return epoch_ms(NOW - delta)


# -- keys and encoding ----------------------------------------------------------------------


def test_every_key_is_prefixed_with_the_namespace():
    keys = RedisKeys("t1")
    assert keys.session("s-1") == "t1:session:s-1"
    assert keys.profile("customer", "c-1") == "t1:customer:c-1"
    assert keys.profile("merchant", "m-1") == "t1:merchant:m-1"
    assert keys.totals("merchant", "m-1") == "t1:totals:merchant:m-1"
    assert keys.window("card", "ab" * 16) == f"t1:{{card:{'ab' * 16}}}:win"
    assert keys.window("device", "d-1") == "t1:{device:d-1}:win"
    assert keys.window("device", "d-1", "m-1") == "t1:{device:d-1}:mwin:m-1"


@pytest.mark.parametrize(
    "call", [lambda k: k.window("email", "x"), lambda k: k.totals("card", "x")]
)
def test_an_unknown_kind_is_refused_rather_than_inventing_a_key(call):
    with pytest.raises(ValueError, match="unknown kind"):
        call(RedisKeys("t1"))


@pytest.mark.parametrize("payment_id", ["pay-1", "p.2:x_y-z", "A" * 64])
def test_a_member_round_trips_for_any_valid_payment_id(payment_id):
    member = encode_member(payment_id, 123_456, "HKD")
    assert member == f"{payment_id}|123456|HKD"
    assert decode_member(member) == (payment_id, 123_456, "HKD")


def test_epoch_ms_is_exact_integer_arithmetic_and_zone_independent():
    assert epoch_ms(datetime(1970, 1, 1, tzinfo=UTC)) == 0
    moment = datetime(2026, 3, 1, 12, 0, 0, 999_999, tzinfo=UTC)
    assert epoch_ms(moment) == 1_772_366_400_999  # floors the microseconds
    hk = moment.astimezone(timezone(timedelta(hours=8)))
    assert epoch_ms(hk) == epoch_ms(moment)
    with pytest.raises(ValueError, match="timezone"):
        epoch_ms(datetime(2026, 3, 1))


def test_the_script_sha_is_what_redis_will_name_the_script():
    assert hashlib.sha1(WINDOW.body.encode()).hexdigest() == WINDOW.sha


def test_where_never_shows_the_password():
    assert redis_where("redis://:s3cret@cache.example:6380/2") == "redis://cache.example:6380/2"
    assert redis_where("rediss://user:pw@h") == "rediss://h:6379"
    assert redis_where("unix:///tmp/redis.sock") == "unix:/tmp/redis.sock"


# -- windows --------------------------------------------------------------------------------


def test_window_boundaries_at_one_minute_one_hour_and_one_day():
    entries = [
        (encode_member("p30s", 100, "HKD"), at(timedelta(seconds=30))),
        (encode_member("p30m", 200, "HKD"), at(timedelta(minutes=30))),
        (encode_member("p23h", 400, "HKD"), at(timedelta(hours=23))),
        (encode_member("p25h", 800, "HKD"), at(timedelta(hours=25))),
    ]
    assert summarize_window(entries, NOW_MS) == WindowFeatures(
        count_1m=1,
        amount_1m_minor=100,
        count_1h=2,
        amount_1h_minor=300,
        count_24h=3,
        amount_24h_minor=700,
        currency="HKD",
    )


def test_lower_bounds_are_exclusive_now_is_inclusive_and_the_future_is_ignored():
    entries = [
        (encode_member("exactly-1m", 1, "GBP"), NOW_MS - 60_000),
        (encode_member("exactly-24h", 2, "GBP"), NOW_MS - DAY_MS),
        (encode_member("now", 4, "GBP"), NOW_MS),
        (encode_member("later", 8, "GBP"), NOW_MS + 1),
    ]
    features = summarize_window(entries, NOW_MS)
    assert (features.count_1m, features.amount_1m_minor) == (1, 4)
    assert (features.count_1h, features.amount_1h_minor) == (2, 5)
    assert (features.count_24h, features.amount_24h_minor) == (2, 5)


def test_scores_arrive_as_floats_from_redis_and_are_handled():
    features = summarize_window([("p|10|JPY", float(NOW_MS - 1000))], NOW_MS)
    assert features.count_1m == 1 and features.amount_1m_minor == 10


def test_amounts_are_in_the_dominant_currency_while_counts_cover_all():
    entries = [
        (encode_member("a", 100, "HKD"), at(timedelta(seconds=10))),
        (encode_member("b", 200, "HKD"), at(timedelta(hours=2))),
        (encode_member("c", 5_000, "GBP"), at(timedelta(seconds=20))),
    ]
    features = summarize_window(entries, NOW_MS)
    assert features.currency == "HKD"
    assert (features.count_1m, features.amount_1m_minor) == (2, 100)
    assert (features.count_24h, features.amount_24h_minor) == (3, 300)


def test_a_currency_tie_is_broken_by_the_lowest_code_and_empty_is_all_zero():
    entries = [
        (encode_member("a", 100, "USD"), at(timedelta(seconds=10))),
        (encode_member("b", 7, "EUR"), at(timedelta(seconds=10))),
    ]
    assert summarize_window(entries, NOW_MS).currency == "EUR"
    assert summarize_window(entries, NOW_MS).amount_1m_minor == 7
    assert summarize_window([], NOW_MS) == WindowFeatures()
    only_old = [(encode_member("a", 1, "USD"), at(timedelta(days=2)))]
    assert summarize_window(only_old, NOW_MS) == WindowFeatures()


# -- totals ---------------------------------------------------------------------------------


def test_totals_fields_are_absolute_values_and_round_trip():
    by_currency = {
        "HKD": Totals(captured_minor=5_000, captured_count=3, refunded_minor=1_200, refund_count=1),
        "GBP": Totals(captured_minor=99, captured_count=1),
    }
    fields = totals_fields(by_currency)
    assert fields["HKD:captured_minor"] == 5_000
    assert fields["HKD:net_minor"] == 3_800
    assert fields["GBP:refund_count"] == 0
    as_stored = {k: str(v) for k, v in fields.items()} | {"XXX:unrelated": "1"}
    assert parse_totals(as_stored) == by_currency


# -- planning, with a recording client instead of Redis -------------------------------------


class RecordingPipeline:
    def __init__(self, client):
        self.client = client
        self.calls = []

    def __len__(self):
        return len(self.calls)

    def __getattr__(self, name):
        def record(*args, **kwargs):
            self.calls.append((name, args, kwargs))

        return record

    def execute(self):
        self.client.executed.append(self.calls)
        if self.client.fail_first_with and len(self.client.executed) == 1:
            raise self.client.fail_first_with
        return [None] * len(self.calls)


class RecordingClient:
    def __init__(self, fail_first_with=None):
        self.executed = []
        self.loaded = []
        self.fail_first_with = fail_first_with

    def pipeline(self, transaction=True):
        assert transaction is False
        return RecordingPipeline(self)

    def script_load(self, script):
        self.loaded.append(script)
        return hashlib.sha1(script.encode()).hexdigest()


def expected_progress(batch):
    """Per source partition: the next offset and the time of its last event in ``batch``."""
    out = {}
    for item in sorted(batch, key=lambda i: i.offset):
        out[f"{item.topic}:{item.partition}"] = (item.offset + 1, epoch_ms(item.event.occurred_at))
    return out


def offline_sink(client):
    # Port 1 is closed; nothing connects because the client is replaced before any call.
    sink = RedisStateSink(RedisSettings(url=SecretStr("redis://127.0.0.1:1/0")), namespace="u")
    sink._client = client
    sink._graph.client = client
    sink._merchant_fraud.client = client
    return sink


def sample_batch():
    events = [
        CustomerRegistered(event_id=uuid.uuid4(), occurred_at=NOW, customer_id="c-1", country="HK"),
        SessionEnded(event_id=uuid.uuid4(), occurred_at=NOW, session_id="s-1", customer_id="c-1"),
        SessionStarted(
            event_id=uuid.uuid4(),
            occurred_at=NOW - timedelta(minutes=5),
            session_id="s-1",
            customer_id="c-1",
            device_id="d-1",
            ip_country="HK",
            channel="ios",
        ),
    ]
    events += [
        PaymentAuthorized(
            event_id=uuid.uuid4(),
            occurred_at=NOW - timedelta(seconds=i),
            payment_id=f"p-{i}",
            customer_id="c-1",
            merchant_id="m-1",
            amount=Money(amount_minor=100 + i, currency="HKD"),
            card_fingerprint="ab" * 16,
            device_id="d-1",
        )
        for i in range(5)
    ]
    return [Envelope(e, e.topic, 0, i) for i, e in enumerate(events)]


def test_a_batch_is_one_pipeline_with_one_script_call_per_entity_then_merchants_then_graph():
    client = RecordingClient()
    snapshot = LedgerSnapshot(
        merchants={("m-1", "HKD"): Totals(captured_minor=500, captured_count=5)},
        customers={("c-1", "HKD"): Totals(captured_minor=500, captured_count=5)},
    )
    offline_sink(client).apply(sample_batch(), snapshot)
    # The state, the merchants' payments (one call per merchant), then the graph cache's two
    # steps (customer slot, then device and card) and its mark: the batch's newest event time;
    # last, the projection's progress per source partition.
    assert len(client.executed) == 6
    merchants, first, second, mark, progress = client.executed[1:]
    [(_, payments, _)] = merchants
    assert payments[:5] == (
        RECORD_PAYMENTS.sha,
        1,
        "u:{merchant:m-1}:payments",
        MERCHANT_TTL_S,
        MERCHANT_KEEP_MS,
    )
    assert sorted(payments[6::2]) == [f"p-{i}" for i in range(5)]
    assert [(a[0], a[2]) for _, a, _ in first] == [(LINK_A.sha, "u:{customer:c-1}:links")] * 2
    assert sorted(a[2] for _, a, _ in second) == [
        "u:{card:" + "ab" * 16 + "}:users",
        "u:{device:d-1}:users",
    ]
    assert [a for _, a, _ in mark] == [(MARK.sha, 1, "u:graph:mark", NOW_MS)]
    [(_, written, _)] = progress
    assert written[:3] == (PROGRESS.sha, 1, "u:progress")
    fields = {written[i]: written[i + 1 : i + 3] for i in range(3, len(written), 3)}
    assert fields == expected_progress(sample_batch())
    names = [name for name, _, _ in client.executed[0]]
    assert not [n for n in names if "incr" in n]
    calls = [args for name, args, _ in client.executed[0] if name == "evalsha"]
    scripts = [args for args in calls if args[0] == WINDOW.sha]
    totals = [args for args in calls if args[0] == TOTALS_SCRIPT_SHA]
    # Totals go through the versioned script: one call per owner, never a plain HSET.
    assert sorted(args[2] for args in totals) == ["u:totals:customer:c-1", "u:totals:merchant:m-1"]
    assert sorted(args[2] for args in scripts) == [
        "u:{card:" + "ab" * 16 + "}:mwin:m-1",
        "u:{card:" + "ab" * 16 + "}:win",
        "u:{customer:c-1}:mwin:m-1",
        "u:{customer:c-1}:win",
        "u:{device:d-1}:mwin:m-1",
        "u:{device:d-1}:win",
    ]
    # sha, 1, key; span, ttl, read-at, currency; then 5 (score, member) pairs
    assert all(len(args) == 3 + 4 + 2 * 5 for args in scripts)
    expires = [(args, kwargs) for name, args, kwargs in client.executed[0] if name == "expire"]
    assert expires == [
        (("u:session:s-1", 300), {"lt": True}),
        (("u:session:s-1", 1800), {"nx": True}),
    ]
    assert ("hsetnx", ("u:session:s-1", "state", "active"), {}) in client.executed[0]


def test_a_replayed_batch_plans_exactly_the_same_commands():
    client = RecordingClient()
    sink = offline_sink(client)
    batch, snapshot = sample_batch(), LedgerSnapshot()
    sink.apply(batch, snapshot)
    sink.apply(batch, snapshot)
    assert client.executed[:6] == client.executed[6:]


def test_large_batches_are_chunked_into_few_pipelines():
    client = RecordingClient()
    snapshot = LedgerSnapshot(
        merchants={(f"m-{i}", "HKD"): Totals(captured_minor=i) for i in range(2_500)}
    )
    offline_sink(client).apply([], snapshot)
    assert [len(chunk) for chunk in client.executed] == [1000, 1000, 500]


def test_an_empty_script_cache_is_reloaded_and_the_chunk_redone():
    client = RecordingClient(fail_first_with=NoScriptError("NOSCRIPT No matching script"))
    offline_sink(client).apply(sample_batch(), LedgerSnapshot())
    assert client.loaded == [WINDOW.body, TOTALS_SCRIPT]
    # The state chunk twice, then the merchants' payments and the graph cache.
    assert len(client.executed) == 2 + 5
    assert client.executed[0] == client.executed[1]


def test_a_decision_dated_by_the_wall_clock_never_moves_the_graph_cache_mark():
    from paystream.contracts.events import Decision, RiskDecided
    from streams.sinks.redis_graph_cache import uses_and_flags

    [*_, payment] = [item.event for item in sample_batch()]
    decided = RiskDecided(
        event_id=uuid.uuid4(),
        occurred_at=NOW + timedelta(days=300),  # scored long after, in a replay
        authorization_event_id=payment.event_id,
        payment_id=payment.payment_id,
        customer_id=payment.customer_id,
        merchant_id=payment.merchant_id,
        amount=payment.amount,
        decision=Decision.APPROVE,
        score=0.1,
        rules_score=0.1,
        authorized_at=payment.occurred_at,
    )
    _, _, newest = uses_and_flags([payment, decided])
    assert newest == epoch_ms(payment.occurred_at)

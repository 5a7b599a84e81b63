"""Reliability of the stream workers against the real broker, MySQL, Redis and Gremlin."""

import json
import random
import signal
import time
from collections import Counter

import redis

from ingest.simulator.generator import SimulationConfig, simulate
from paystream.bus.deadletters import read_dead_letters
from paystream.bus.port import Message
from paystream.contracts.events import PaymentCaptured, RefundIssued
from paystream.stores.mysql import Database
from streams.reconcile import reconcile
from streams.sinks.redis_state import RedisStateSink
from tests.integration.streams.dumps import ledger_dump


def sim(seed, customers, days=3):
    return [
        e
        for e, _ in simulate(
            SimulationConfig(seed=seed, customers=customers, days=days, merchants=10)
        )
    ]


def world_ledger(world):
    db = Database(world.settings.mysql)
    try:
        return ledger_dump(db)
    finally:
        db.dispose()


def redis_dump(world):
    client = redis.Redis.from_url(
        world.settings.redis.url.get_secret_value(), decode_responses=True
    )
    try:
        out = {}
        # The projection's progress is where it stands in the topics, not state: a replay
        # reads further.
        progress = f"{world.settings.streams.namespace}:progress"
        for key in client.scan_iter(f"{world.settings.streams.namespace}:*", count=1000):
            if key == progress:
                continue
            kind = client.type(key)
            if kind == "hash":
                out[key] = sorted(client.hgetall(key).items())
            elif kind == "zset":
                out[key] = client.zrange(key, 0, -1, withscores=True)
        return out
    finally:
        client.close()


def expected_merchant_money(events):
    captured, refunded, seen = Counter(), Counter(), set()
    for e in events:
        if isinstance(e, PaymentCaptured) and e.payment_id not in seen:
            seen.add(e.payment_id)
            captured[e.amount.currency] += e.amount.amount_minor
        elif isinstance(e, RefundIssued):
            refunded[e.amount.currency] += e.amount.amount_minor
    return captured, refunded


def graph_counts(world):
    from streams.sinks.graph import GremlinGraphSink

    sink = GremlinGraphSink(
        world.settings.gremlin, namespace=f"{world.settings.streams.namespace}:"
    )
    try:
        return sink.counts()
    finally:
        sink.close()


def check_reconciled(world, events):
    # The projections run in their own consumer groups, behind the ledger: wait for them.
    world.wait_caught_up()
    db = Database(world.settings.mysql)
    sink = RedisStateSink(world.settings.redis, namespace=world.settings.streams.namespace)
    try:
        report = reconcile(db, sink)
    finally:
        sink.close()
        db.dispose()
    assert report.ok, report.mismatches
    captured, refunded = expected_merchant_money(events)
    assert {c: t.captured_minor for c, t in report.ledger_money.items()} == dict(captured)
    assert {
        c: t.refunded_minor for c, t in report.ledger_money.items() if t.refunded_minor
    } == dict(refunded)
    assert report.ledger_rows["processed_events"] == len({e.event_id for e in events})
    return report


def test_replaying_the_same_events_twice_leaves_mysql_redis_and_graph_identical(world):
    events = sim(101, customers=60)
    world.start_worker()
    world.publish(events)
    world.wait_processed(len(events))
    time.sleep(2)  # let the last batch's projections finish
    first_ledger, first_redis, first_graph = (
        world_ledger(world),
        redis_dump(world),
        graph_counts(world),
    )
    assert first_graph.get("customer", 0) > 0 and first_graph.get("PAID", 0) > 0
    world.publish(events)  # the same stretch of log again
    world.publish(events[: len(events) // 2])
    # Nothing new to process: wait until the consumer has caught up with the repeats.
    import asyncio

    from paystream.bus.kafka import consumer_lag

    topics = [
        world.settings.kafka.topic(t)
        for t in ("customers", "sessions", "orders", "payments", "bookings")
    ]
    deadline = time.monotonic() + 120
    while (
        asyncio.run(consumer_lag(world.settings.kafka, world.settings.streams.app_id, topics)) > 0
    ):
        assert time.monotonic() < deadline, "the worker did not catch up with the replay"
        time.sleep(1)
    time.sleep(2)
    assert world_ledger(world) == first_ledger
    assert redis_dump(world) == first_redis
    assert graph_counts(world) == first_graph
    check_reconciled(world, events)


def test_a_worker_killed_mid_batch_loses_nothing_and_counts_nothing_twice(world):
    events = sim(202, customers=400, days=4)
    proc = world.start_worker()
    world.publish(events)
    world.wait_processed(len(events) // 4)
    world.kill(proc, signal.SIGKILL)
    processed_at_kill = world.processed()
    assert processed_at_kill < len({e.event_id for e in events})
    world.start_worker()
    world.wait_processed(len({e.event_id for e in events}))
    time.sleep(2)
    check_reconciled(world, events)


def test_adversarial_records_land_in_the_dead_letter_topic_while_the_stream_goes_on(world):
    rng = random.Random(7)
    events = sim(303, customers=30)
    valid_payment = json.loads(
        next(e for e in events if e.event_type == "payment.captured").to_bytes()
    )
    topic = world.settings.kafka.topic("payments")
    bad = []
    for i in range(1000):
        kind = i % 10
        if kind == 0:
            value = b"{not json" + str(i).encode()
        elif kind == 1:
            value = json.dumps(
                {**valid_payment, "amount": {"amount_minor": "ten", "currency": "HKD"}}
            ).encode()
        elif kind == 2:
            value = json.dumps({**valid_payment, "customer_id": "x" * 100_000}).encode()
        elif kind == 3:
            value = json.dumps(
                {**valid_payment, "customer_id": f"'; DROP TABLE payments; -- {i}"}
            ).encode()
        elif kind == 4:
            value = json.dumps(
                {**valid_payment, "merchant_id": f"g.V().drop().iterate() {i}"}
            ).encode()
        elif kind == 5:
            value = json.dumps({**valid_payment, "event_type": "payment.teleported"}).encode()
        elif kind == 6:
            value = json.dumps(
                {**valid_payment, "amount": {"amount_minor": -5, "currency": "HKD"}}
            ).encode()
        elif kind == 7:
            value = json.dumps(
                {**valid_payment, "amount": {"amount_minor": 10**19, "currency": "HKD"}}
            ).encode()
        elif kind == 8:
            value = json.dumps(
                {**valid_payment, "amount": {"amount_minor": 5, "currency": "ZZZ"}}
            ).encode()
        else:
            value = bytes(rng.getrandbits(8) for _ in range(64))
        bad.append(Message(topic, f"adv-{i}".encode(), value))
    world.start_worker()
    world.publish(events, raw=bad)
    world.wait_processed(len({e.event_id for e in events}))
    import asyncio

    deadline = time.monotonic() + 60
    letters = []
    while time.monotonic() < deadline:
        letters = asyncio.run(read_dead_letters(world.settings.kafka))
        if len(letters) >= 1000:
            break
        time.sleep(1)
    assert len(letters) == 1000
    reasons = Counter(s.letter.reason for s in letters)
    assert set(reasons) <= {
        "malformed_json",
        "schema_violation",
        "invalid_amount",
        "unknown_event_type",
        "unknown_currency",
    }
    assert reasons["unknown_currency"] == 100 and reasons["unknown_event_type"] == 100
    assert all(s.letter.source == topic and s.letter.offset is not None for s in letters)
    assert {s.letter.original for s in letters} == {m.value for m in bad}
    check_reconciled(world, events)


def test_two_workers_share_the_partitions_and_one_takes_over_when_the_other_dies(world):
    import asyncio

    from aiokafka.admin import AIOKafkaAdminClient

    events = sim(404, customers=300, days=3)
    first, second = world.start_worker(), world.start_worker()

    async def members():
        admin = AIOKafkaAdminClient(**world.settings.kafka.client_options())
        await admin.start()
        try:
            response = (await admin.describe_consumer_groups([world.settings.streams.app_id]))[0]
            _error, _group, state, _ptype, _protocol, group_members = response.groups[0]
            return state, len(group_members)
        finally:
            await admin.close()

    deadline = time.monotonic() + 90
    while True:
        group = asyncio.run(members())
        if group == ("Stable", 2):
            break
        assert time.monotonic() < deadline, f"two members never joined: {group}"
        time.sleep(1)
    world.publish(events[: len(events) // 2])
    world.wait_processed(len(events) // 4)
    world.kill(first)
    world.publish(events[len(events) // 2 :])
    world.wait_processed(len({e.event_id for e in events}))
    assert second.poll() is None
    time.sleep(2)
    check_reconciled(world, events)


def test_a_redis_that_lost_its_data_is_rebuilt_from_the_ledger_and_reconciles(world):
    events = sim(505, customers=120)
    half = len(events) // 2
    world.start_worker()
    world.publish(events[:half])
    world.wait_processed(len({e.event_id for e in events[:half]}))
    world.wait_caught_up()
    # What a Redis restart without persistence does to the namespace.
    client = redis.Redis.from_url(world.settings.redis.url.get_secret_value())
    namespace = world.settings.streams.namespace
    cache_before = graph_cache_dump(client, namespace)
    client.delete(*client.scan_iter(f"{namespace}:*"))
    world.publish(events[half:])
    world.wait_processed(len({e.event_id for e in events}))
    world.wait_caught_up()
    time.sleep(2)
    report = check_reconciled(world, events)
    # Totals of owners untouched after the wipe came back too: every ledger balance matched.
    assert report.redis_money == report.ledger_money
    # The graph-feature cache came back with every first use and flag at its original time.
    cache_after = graph_cache_dump(client, namespace)
    client.close()
    assert cache_before and all(
        cache_after.get(key, {}).get(member) == at
        for key, members in cache_before.items()
        for member, at in members.items()
    )


def graph_cache_dump(client, namespace):
    # Uses (links, users), flagged users and flags; the flag is a string: its own member.
    dump = {}
    for key in client.scan_iter(f"{namespace}:{{*"):
        name = key.decode()
        if name.endswith((":links", ":users", ":flagged")):
            dump[name] = dict(client.zrange(key, 0, -1, withscores=True))
        elif name.endswith(":fraud"):
            dump[name] = {b"at": float(client.get(key))}
    return dump


def test_a_graph_that_lost_its_data_is_rebuilt_from_the_ledger(world, settings, tmp_path):
    from harness.worlds import create_world
    from streams.sinks.graph import GremlinGraphSink

    events = sim(606, customers=80)
    half = len(events) // 2
    unique = len({e.event_id for e in events})
    # Reference: a clean pass in another world.
    clean = create_world(settings, tmp_path / "clean")
    try:
        clean.start_worker()
        clean.publish(events)
        clean.wait_processed(unique)
        clean.wait_caught_up()
        time.sleep(2)
        expected = graph_counts(clean)
    finally:
        clean.destroy()
    world.start_worker()
    world.publish(events[:half])
    world.wait_processed(len({e.event_id for e in events[:half]}))
    world.wait_caught_up()
    # What an in-memory Gremlin Server restart does to the namespace.
    wiper = GremlinGraphSink(
        world.settings.gremlin, namespace=f"{world.settings.streams.namespace}:"
    )
    wiper.purge_namespace()
    wiper.close()
    world.publish(events[half:])
    world.wait_processed(unique)
    world.wait_caught_up()
    time.sleep(2)
    assert graph_counts(world) == expected
    assert expected["PAID"] > 0 and expected["BOUGHT"] > 0


def test_no_card_number_reaches_any_store_whatever_field_carries_it(world):
    import asyncio
    import re

    from streams.sinks.graph import GremlinGraphSink
    from tests.support.card_numbers import FOUND, card_number_records

    events = sim(random.randrange(10**9), customers=6, days=1)
    raw = card_number_records(world.settings.kafka, events)

    world.publish(events, raw)
    world.start_worker()
    world.wait_processed(len({e.event_id for e in events}), timeout_s=240)
    world.wait_caught_up(timeout_s=240)

    assert not FOUND.search(json.dumps(world_ledger(world), default=str))
    assert not FOUND.search(json.dumps(redis_dump(world), default=str))
    graph = GremlinGraphSink(
        world.settings.gremlin, namespace=f"{world.settings.streams.namespace}:"
    )
    try:
        elements = graph.read(
            "g.V().has('ns', ns).union(id(), values()).fold()",
            {"ns": f"{world.settings.streams.namespace}:"},
        )
    finally:
        graph.close()
    assert elements and not FOUND.search(json.dumps(elements, default=str))
    letters = asyncio.run(read_dead_letters(world.settings.kafka))
    card = [s.letter for s in letters if s.letter.reason == "card_number"]
    assert len(card) == len(raw)
    for letter in card:
        # Masked, first 6 and last 4 digits kept: "411111******1111" or "4111 11** **** 1111".
        assert not FOUND.search(letter.original.decode())
        assert re.search(r"4111[ -]?11\*\*", letter.original.decode())

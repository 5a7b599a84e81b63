import asyncio
import uuid
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient

from paystream.bus.kafka import (
    KafkaPublisher,
    LagProbe,
    all_topics,
    consumer_lag_by_topic,
    drop_topics,
    ensure_topics,
    topic_counts,
)
from paystream.contracts import parse_event
from paystream.contracts.events import PaymentAuthorized
from paystream.money import Money


def make_payment(i: int) -> PaymentAuthorized:
    return PaymentAuthorized(
        event_id=uuid.uuid4(),
        occurred_at=datetime.now(UTC),
        payment_id=f"pay-{i}",
        customer_id=f"cust-{i % 7}",
        merchant_id="m-1",
        amount=Money(amount_minor=100 + i, currency="HKD"),
    )


async def produce_and_consume(kafka_settings, events):
    created = await ensure_topics(kafka_settings)
    assert set(created) == set(all_topics(kafka_settings))
    assert await ensure_topics(kafka_settings) == []
    async with KafkaPublisher(kafka_settings) as publisher:
        for event in events:
            await publisher.publish(event)
    topic = kafka_settings.topic("payments")
    consumer = AIOKafkaConsumer(
        topic,
        **kafka_settings.client_options(),
        auto_offset_reset="earliest",
        group_id=f"{kafka_settings.topic_prefix}-test",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        received = []
        deadline = asyncio.get_running_loop().time() + 30
        while len(received) < len(events) and asyncio.get_running_loop().time() < deadline:
            batch = await consumer.getmany(timeout_ms=1000)
            for records in batch.values():
                received.extend(records)
    finally:
        await consumer.stop()
    counts = await topic_counts(kafka_settings, [topic])
    return received, counts[topic]


def test_events_produced_to_the_broker_are_consumed_intact_and_keyed_by_customer(kafka_settings):
    events = [make_payment(i) for i in range(200)]
    received, count = asyncio.run(produce_and_consume(kafka_settings, events))
    assert count == 200
    assert sorted(parse_event(r.value).event_id for r in received) == sorted(
        e.event_id for e in events
    )
    # One customer's events share a partition, so their order is kept.
    partitions_by_customer = {}
    for record in received:
        partitions_by_customer.setdefault(record.key, set()).add(record.partition)
    assert all(len(p) == 1 for p in partitions_by_customer.values())
    assert dict(received[0].headers)["event_type"] == b"payment.authorized"


async def lag_over_time(kafka_settings):
    await ensure_topics(kafka_settings)
    topic = kafka_settings.topic("payments")
    group = f"{kafka_settings.topic_prefix}-lag"
    probe = LagProbe(kafka_settings, group, [topic])
    seen = []
    try:
        async with KafkaPublisher(kafka_settings) as publisher:
            for i in range(30):
                await publisher.publish(make_payment(i))
        seen.append(await probe.read())
        consumer = AIOKafkaConsumer(
            topic,
            **kafka_settings.client_options(),
            auto_offset_reset="earliest",
            group_id=group,
            enable_auto_commit=False,
        )
        await consumer.start()
        try:
            got = 0
            deadline = asyncio.get_running_loop().time() + 30
            while got < 30 and asyncio.get_running_loop().time() < deadline:
                got += sum(len(r) for r in (await consumer.getmany(timeout_ms=1000)).values())
            await consumer.commit()
        finally:
            await consumer.stop()
        seen.append(await probe.read())
        async with KafkaPublisher(kafka_settings) as publisher:
            for i in range(30, 42):
                await publisher.publish(make_payment(i))
        seen.append(await probe.read())
    finally:
        await probe.close()
    return seen, await consumer_lag_by_topic(kafka_settings, group, [topic])


def test_a_kept_lag_probe_follows_new_records_and_commits_on_the_same_clients(kafka_settings):
    seen, one_shot = asyncio.run(lag_over_time(kafka_settings))
    topic = kafka_settings.topic("payments")
    # Uncommitted: all of it; committed: nothing; then only the records published since.
    assert seen == [{topic: 30}, {topic: 0}, {topic: 12}]
    assert one_shot == {topic: 12}


async def created_then_dropped(kafka_settings):
    created = await ensure_topics(kafka_settings)
    dropped = await drop_topics(kafka_settings)
    admin = AIOKafkaAdminClient(**kafka_settings.client_options())
    await admin.start()
    try:
        # Deletion completes on the controller shortly after the answer.
        for _ in range(50):
            left = [t for t in await admin.list_topics() if t in set(created)]
            if not left:
                break
            await asyncio.sleep(0.2)
    finally:
        await admin.close()
    return created, dropped, await drop_topics(kafka_settings), left


def test_a_worlds_topics_are_dropped_and_dropping_twice_finds_nothing(kafka_settings):
    created, dropped, again, left = asyncio.run(created_then_dropped(kafka_settings))
    assert sorted(dropped) == sorted(created) == sorted(all_topics(kafka_settings))
    assert again == []
    assert left == []

import asyncio
import json

from ingest.online_retail.replay import DEFAULT_FILE, run_online_retail
from paystream.bus.kafka import all_topics, topic_counts


def test_a_replay_publishes_every_event_and_routes_dirty_lines_to_the_dead_letter_topic(
    kafka_settings,
):
    summary, _ = asyncio.run(run_online_retail(kafka_settings, DEFAULT_FILE, limit=3000))
    counts = asyncio.run(topic_counts(kafka_settings, all_topics(kafka_settings)))
    assert summary.lines == 3000 and summary.accounted
    assert counts[kafka_settings.topic("dlq")] == summary.lines_routed > 0
    events = sum(v for k, v in counts.items() if not k.endswith((".dlq", ".decisions")))
    assert events == sum(summary.events.values())
    assert counts[kafka_settings.topic("orders")] == summary.events["order.placed"]


def test_the_routed_lines_carry_their_reason_and_original_bytes(kafka_settings):
    from aiokafka import AIOKafkaConsumer

    from paystream.contracts.deadletter import DeadLetter

    async def read_dlq():
        summary, _ = await run_online_retail(kafka_settings, DEFAULT_FILE, limit=2000)
        consumer = AIOKafkaConsumer(
            kafka_settings.topic("dlq"),
            **kafka_settings.client_options(),
            auto_offset_reset="earliest",
            group_id=f"{kafka_settings.topic_prefix}-dlq",
        )
        await consumer.start()
        try:
            batch = await consumer.getmany(timeout_ms=5000, max_records=10_000)
        finally:
            await consumer.stop()
        return summary, [
            DeadLetter.model_validate_json(r.value) for rs in batch.values() for r in rs
        ]

    summary, letters = asyncio.run(read_dlq())
    assert len(letters) == summary.lines_routed
    assert {letter.reason for letter in letters} == set(summary.routed)
    assert all(letter.original.count(b",") >= 7 for letter in letters)
    assert json.loads(letters[0].model_dump_json())["source"] == "online_retail.csv.gz"

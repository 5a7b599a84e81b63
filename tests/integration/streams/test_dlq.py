import asyncio

from aiokafka import AIOKafkaConsumer

from paystream.bus.deadletters import read_dead_letters, replay_dead_letters
from paystream.bus.kafka import KafkaPublisher, ensure_topics
from paystream.bus.port import Message
from paystream.contracts.deadletter import DeadLetter


def test_dead_letters_are_read_back_and_replayed_to_their_source_topic(kafka_settings):
    source = kafka_settings.topic("payments")
    letters = [
        DeadLetter(
            reason="malformed_json",
            source=source,
            partition=0,
            offset=i,
            original=b'{"broken": ' + str(i).encode(),
        )
        for i in range(5)
    ] + [DeadLetter(reason="zero_price", source="online_retail.csv.gz", offset=9, original=b"x")]

    async def scenario():
        await ensure_topics(kafka_settings)
        async with KafkaPublisher(kafka_settings) as publisher:
            for letter in letters:
                await publisher.send(
                    Message(kafka_settings.topic("dlq"), letter.key(), letter.to_bytes())
                )
        stored = await read_dead_letters(kafka_settings)
        sent, skipped = await replay_dead_letters(
            kafka_settings, stored, lambda letter: letter.reason in ("malformed_json", "zero_price")
        )
        consumer = AIOKafkaConsumer(
            source,
            **kafka_settings.client_options(),
            auto_offset_reset="earliest",
            group_id=f"{kafka_settings.topic_prefix}-r",
        )
        await consumer.start()
        try:
            batch = await consumer.getmany(timeout_ms=5000)
        finally:
            await consumer.stop()
        return stored, sent, skipped, sorted(r.value for rs in batch.values() for r in rs)

    stored, sent, skipped, replayed = asyncio.run(scenario())
    assert [s.letter for s in stored if s.letter.reason == "malformed_json"] != []
    assert len(stored) == 6
    assert (sent, skipped) == (5, 1)  # a file-routed line has no topic to go back to
    assert replayed == sorted(letter.original for letter in letters[:5])

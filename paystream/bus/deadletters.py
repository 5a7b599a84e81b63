"""Reading the dead-letter topic back, and sending its records to their source again."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaConnectionError

from paystream.bus.kafka import KafkaPublisher, topic_partitions
from paystream.bus.port import Message
from paystream.contracts.deadletter import DeadLetter
from paystream.errors import ServiceUnavailableError
from paystream.settings import KafkaSettings


@dataclass(frozen=True)
class StoredDeadLetter:
    """A dead letter with its own position in the dead-letter topic."""

    partition: int
    offset: int
    letter: DeadLetter


async def read_dead_letters(settings: KafkaSettings) -> list[StoredDeadLetter]:
    """Every record of the dead-letter topic, from the beginning to the current end."""
    topic = settings.topic("dlq")
    consumer = AIOKafkaConsumer(**settings.client_options(), enable_auto_commit=False)
    try:
        await consumer.start()
    except KafkaConnectionError as exc:
        await consumer.stop()
        raise ServiceUnavailableError("Kafka", settings.bootstrap_servers, "dlq") from exc
    try:
        tps = await topic_partitions(consumer, topic)
        if not tps:
            return []
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        end = await consumer.end_offsets(tps)
        letters: list[StoredDeadLetter] = []
        remaining = {tp for tp in tps if end[tp] > 0}
        while remaining:
            batch = await consumer.getmany(*remaining, timeout_ms=2000, max_records=5000)
            if not batch:
                break
            for tp, records in batch.items():
                for record in records:
                    letters.append(
                        StoredDeadLetter(
                            tp.partition,
                            record.offset,
                            DeadLetter.model_validate_json(record.value or b"{}"),
                        )
                    )
                if records and records[-1].offset + 1 >= end[tp]:
                    remaining.discard(tp)
        return letters
    finally:
        await consumer.stop()


async def replay_dead_letters(
    settings: KafkaSettings,
    letters: list[StoredDeadLetter],
    keep: Callable[[DeadLetter], bool],
) -> tuple[int, int]:
    """Send the original bytes of the kept letters back to their source topics.

    Letters whose source is not a topic (lines routed by a file replay) cannot go back to
    Kafka and are skipped. Returns (sent, skipped).
    """
    sent = skipped = 0
    known_topics = {
        settings.topic(name) for name in ("customers", "sessions", "orders", "payments", "bookings")
    }
    async with KafkaPublisher(settings) as publisher:
        for stored in letters:
            letter = stored.letter
            if not keep(letter):
                continue
            if letter.source not in known_topics:
                skipped += 1
                continue
            await publisher.send(
                Message(letter.source, None, letter.original, (("dlq-replay-of", letter.key()),))
            )
            sent += 1
    return sent, skipped

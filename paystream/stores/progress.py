"""How far the Redis state projection has read each source partition, for the risk agent.

The projection writes, after each batch, per ``{topic}:{partition}`` it read from: the next
offset it will read and the event time of the last event it applied there (a hash under
:attr:`paystream.stores.redis.RedisKeys.progress`). Both move with the offset, forward only.

A risk agent deciding *history* (payments older than the live bound) waits until, on every
partition the projection reads, the projection has read every event produced before the
batch (up to the first offset whose create time is not older than the batch's newest). Every
event a payment's features depend on was produced before it: a history is produced in
event-time order (the importer releases each chargeback at its own date), and live events
happen before the payments that read them. So then they are all in Redis: chargebacks on
other customers' partitions, other customers' uses of a card or device, registrations.
Waiting on each partition, not on the newest event time over all of them, is what makes a
history imported at full speed read what a live-paced one reads; and the agent never waits
for events produced after its batch.

Offsets, not event times, decide: two histories imported one after the other put older
times after newer ones in a partition, so "an event later than the batch was applied" would
not mean that everything before it was.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from paystream.stores.redis import Script

# KEYS: progress. ARGV: (field, next offset, last event ms) triples. Each field moves with its
# offset, forward only (a replayed batch leaves it where it is).
PROGRESS = Script(
    """
for i = 1, #ARGV, 3 do
  local current = redis.call('HGET', KEYS[1], ARGV[i])
  local offset, newest = tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2])
  if current then
    local at, ms = string.match(current, '^(%d+):(%-?%d+)$')
    if tonumber(at) >= offset then
      offset, newest = tonumber(at), tonumber(ms)
    end
  end
  redis.call('HSET', KEYS[1], ARGV[i], string.format('%.0f:%.0f', offset, newest))
end
return 1
"""
)


@dataclass(frozen=True)
class PartitionProgress:
    """The projection's position in one source partition."""

    next_offset: int
    last_ms: int


def progress_field(topic: str, partition: int) -> str:
    """The hash field of one source partition."""
    return f"{topic}:{partition}"


def parse_progress(raw: Mapping[str, str]) -> dict[str, PartitionProgress]:
    """The progress hash as read from Redis (decoded strings)."""
    parsed: dict[str, PartitionProgress] = {}
    for name, value in raw.items():
        offset, _, newest = str(value).partition(":")
        parsed[str(name)] = PartitionProgress(int(offset), int(newest))
    return parsed


def reached(progress: Mapping[str, PartitionProgress], bounds: Mapping[str, int]) -> bool:
    """Whether the projection has read every partition up to its offset in ``bounds``."""
    for name, bound in bounds.items():
        if bound <= 0:
            continue
        seen = progress.get(name)
        if seen is None or seen.next_offset < bound:
            return False
    return True

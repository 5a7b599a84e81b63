"""The risk agent's offset bookkeeping: only finished batches, only partitions still owned."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from aiokafka import TopicPartition
from aiokafka.errors import RebalanceInProgressError

from risk.consume import _Committer


class _Consumer:
    """Stands in for aiokafka's consumer: an assignment and a commit that records or fails."""

    def __init__(self, owned: set[TopicPartition], fail: bool = False) -> None:
        self.owned, self.fail, self.committed = owned, fail, {}

    def assignment(self) -> set[TopicPartition]:
        return self.owned

    async def commit(self, offsets):
        if self.fail:
            raise RebalanceInProgressError()
        self.committed.update({tp: meta.offset for tp, meta in offsets.items()})


def _records(partition: int, *offsets: int) -> list:
    return [SimpleNamespace(topic="t", partition=partition, offset=o) for o in offsets]


def test_a_commit_covers_the_next_offset_after_each_partitions_newest_finished_record():
    committer = _Committer(asyncio.Lock())
    committer.consumer = _Consumer({TopicPartition("t", 0), TopicPartition("t", 1)})
    committer.finished(_records(0, 5, 7, 6) + _records(1, 2))
    asyncio.run(committer.commit())
    assert committer.consumer.committed == {TopicPartition("t", 0): 8, TopicPartition("t", 1): 3}


def test_offsets_of_partitions_that_moved_away_are_not_committed():
    committer = _Committer(asyncio.Lock())
    committer.consumer = _Consumer({TopicPartition("t", 1)})
    committer.finished(_records(0, 5) + _records(1, 2))
    asyncio.run(committer.commit())
    assert committer.consumer.committed == {TopicPartition("t", 1): 3}


def test_a_commit_refused_during_a_rebalance_keeps_its_offsets_for_the_next_one():
    committer = _Committer(asyncio.Lock())
    committer.consumer = _Consumer({TopicPartition("t", 0)}, fail=True)
    committer.finished(_records(0, 9))
    asyncio.run(committer.commit())
    assert committer.done == {TopicPartition("t", 0): 10}
    committer.consumer.fail = False
    asyncio.run(committer.commit())
    assert committer.consumer.committed == {TopicPartition("t", 0): 10}

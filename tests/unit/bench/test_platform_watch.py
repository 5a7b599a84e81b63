"""The platform benchmark's lag formula and poll back-off (no broker, no stores)."""

from __future__ import annotations

from aiokafka import TopicPartition

from bench.lib.platform_watch import BACKOFF, group_lag, pause_after


def test_group_lag_sums_uncommitted_records_over_its_partitions() -> None:
    a0, a1, b0 = TopicPartition("a", 0), TopicPartition("a", 1), TopicPartition("b", 0)
    end = {a0: 100, a1: 50, b0: 10}
    begin = {a0: 0, a1: 20, b0: 0}
    # a1 has no commit: counted from its beginning, as consumer_lag_by_topic does.
    assert group_lag([a0, a1, b0], end, {a0: 90, b0: 10}, begin) == 10 + 30 + 0
    assert group_lag([a0], end, {a0: -1}, begin) == 100
    # A commit past the end offset (a race between the two requests) is no negative lag.
    assert group_lag([a0], end, {a0: 101}, begin) == 0


def test_polls_back_off_when_they_get_slow() -> None:
    assert pause_after(0.005, 0.0001) == 0.005
    assert pause_after(0.005, 0.01) == BACKOFF * 0.01

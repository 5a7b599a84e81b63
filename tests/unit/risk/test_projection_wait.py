"""A historical batch waits for the state projection; a live one never does. No services."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta
from types import SimpleNamespace

from paystream.settings import RiskSettings, Settings
from paystream.stores.progress import PartitionProgress, reached
from paystream.stores.redis import epoch_ms
from risk import consume
from risk.scorer import RiskScorer, ScoredBatch
from tests.unit.risk.test_risk_network import AT, authorization, facts


class FakeRedis:
    """Returns the same facts for every payment, with the projection's mark given."""

    def __init__(self, mark_ms: int | None) -> None:
        self.mark_ms = mark_ms
        self.stored: list[object] = []

    def gather(self, events):  # type: ignore[no-untyped-def]
        progress = getattr(self, "progress", {})
        return [replace(facts(), graph_mark_ms=self.mark_ms, progress=progress) for _ in events]

    def store(self, rows, ttl_s):  # type: ignore[no-untyped-def]
        self.stored.extend(rows)


def scorer(mark_ms: int | None, now=AT):  # type: ignore[no-untyped-def]
    rules_only = SimpleNamespace(current=None)
    return RiskScorer(FakeRedis(mark_ms), None, rules_only, RiskSettings(), clock=lambda: now)  # type: ignore[arg-type]


HISTORY_NOW = AT + timedelta(days=400)  # the payment is old history by the wall clock


def test_a_historical_payment_ahead_of_the_projection_is_left_undecided_when_patient():
    behind = epoch_ms(AT - timedelta(hours=1))
    result = scorer(behind, HISTORY_NOW).score([authorization()], patient=True)
    assert result.behind and result.decided == 0
    # Impatient (the wait is over): decided on what is there.
    assert scorer(behind, HISTORY_NOW).score([authorization()]).decided == 1


def test_a_projection_within_the_stale_bound_or_a_live_payment_never_waits():
    near = epoch_ms(AT - timedelta(seconds=60))
    assert scorer(near, HISTORY_NOW).score([authorization()], patient=True).decided == 1
    # Live: the payment is now, and the projection is down (no mark at all).
    assert scorer(None, AT).score([authorization()], patient=True).decided == 1


def test_the_consume_loop_scores_again_until_the_projection_catches_up():
    calls: list[bool] = []

    def score(batch, patient=False, ends=None):  # type: ignore[no-untyped-def]
        calls.append(patient)
        return ScoredBatch(behind=len(calls) < 3 and patient, decided=0 if len(calls) < 3 else 1)

    fake = SimpleNamespace(score=score)
    settings = Settings.model_construct(risk=RiskSettings(projection_wait_s=5))
    result = asyncio.run(consume._score_when_projected(settings, fake, [authorization()]))  # type: ignore[arg-type]
    assert calls == [True, True, True] and result.decided == 1


def test_the_wait_is_bounded_then_the_batch_is_decided_anyway():
    calls: list[bool] = []

    def score(batch, patient=False, ends=None):  # type: ignore[no-untyped-def]
        calls.append(patient)
        return ScoredBatch(behind=patient, decided=0 if patient else 1)

    fake = SimpleNamespace(score=score)
    settings = Settings.model_construct(risk=RiskSettings(projection_wait_s=0.12))
    result = asyncio.run(consume._score_when_projected(settings, fake, [authorization()]))  # type: ignore[arg-type]
    assert result.decided == 1
    assert calls[-1] is False and 2 <= calls.count(True) <= 4


def test_a_wait_lasts_while_the_projection_moves_and_ends_once_it_stalls():
    calls: list[bool] = []

    def score(batch, patient=False, ends=None):  # type: ignore[no-untyped-def]
        calls.append(patient)
        # The projection moves for the first six looks (each ~50 ms), then stops.
        moving = min(len(calls), 6)
        return ScoredBatch(behind=patient, decided=0 if patient else 1, progress=(moving,))

    fake = SimpleNamespace(score=score)
    settings = Settings.model_construct(risk=RiskSettings(projection_wait_s=0.12))
    result = asyncio.run(consume._score_when_projected(settings, fake, [authorization()]))  # type: ignore[arg-type]
    assert result.decided == 1 and calls[-1] is False
    # Six moving looks kept it waiting past the 0.12 s a stalled projection would get.
    assert calls.count(True) >= 7


def test_history_waits_until_each_partition_is_read_up_to_the_batch():
    bounds = {"payments:0": 10, "payments:1": 5, "customers:0": 0}
    late = epoch_ms(AT + timedelta(days=3))
    read = {"payments:0": PartitionProgress(12, late), "payments:1": PartitionProgress(5, late)}
    # Both partitions read past what was produced before the batch; the empty customers
    # partition is ignored.
    assert reached(read, bounds)
    # Partition 1 still holds earlier events: a later event time applied there proves nothing
    # (a second history imported after the first puts older times after newer ones).
    assert not reached({**read, "payments:1": PartitionProgress(3, late)}, bounds)
    assert not reached({"payments:0": read["payments:0"]}, bounds)


def test_a_scorer_given_end_offsets_waits_on_partitions_not_the_newest_mark():
    # The projection's newest mark is far past the payment (another partition ran ahead) ...
    ahead = epoch_ms(AT + timedelta(days=1))
    lagging = {"payments:1": PartitionProgress(3, epoch_ms(AT - timedelta(days=1)))}
    s = scorer(ahead, HISTORY_NOW)
    s.redis.progress = lagging  # type: ignore[attr-defined]
    # ... so the old test lets it through, but partition 1 still holds events before it.
    assert s.score([authorization()], patient=True).decided == 1
    result = s.score([authorization()], patient=True, ends={"payments:1": 9})
    assert result.behind and result.decided == 0

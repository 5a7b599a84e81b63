"""A historical batch waits for the state projection; a live one never does. No services."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta
from types import SimpleNamespace

from paystream.settings import RiskSettings, Settings
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
        return [replace(facts(), graph_mark_ms=self.mark_ms) for _ in events]

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

    def score(batch, patient=False):  # type: ignore[no-untyped-def]
        calls.append(patient)
        return ScoredBatch(behind=len(calls) < 3 and patient, decided=0 if len(calls) < 3 else 1)

    fake = SimpleNamespace(score=score)
    settings = Settings.model_construct(risk=RiskSettings(projection_wait_s=5))
    result = asyncio.run(consume._score_when_projected(settings, fake, [authorization()]))  # type: ignore[arg-type]
    assert calls == [True, True, True] and result.decided == 1


def test_the_wait_is_bounded_then_the_batch_is_decided_anyway():
    calls: list[bool] = []

    def score(batch, patient=False):  # type: ignore[no-untyped-def]
        calls.append(patient)
        return ScoredBatch(behind=patient, decided=0 if patient else 1)

    fake = SimpleNamespace(score=score)
    settings = Settings.model_construct(risk=RiskSettings(projection_wait_s=0.12))
    result = asyncio.run(consume._score_when_projected(settings, fake, [authorization()]))  # type: ignore[arg-type]
    assert result.decided == 1
    assert calls[-1] is False and 2 <= calls.count(True) <= 4

"""Where a risk decision's time goes: one Prometheus histogram, one label per stage.

``paystream_risk_stage_seconds{stage}`` is observed per batch (``consume_wait`` per payment):

* ``consume_wait``: from the producer's record timestamp to the agent taking the batch (the
  broker, the consumer's fetch and the batch held open by ``take_events``);
* ``projection_wait``: a batch waiting for the state projection to reach its event time
  (only when it had to: a history imported faster than the projection writes);
* ``thread_hop``: handing the batch to the scoring thread and back;
* ``features``: the one Redis pipeline (windows, totals, profiles, first sightings, and the
  graph cache's first round);
* ``graph``: the graph cache's second round, or the wait for Gremlin within its budget;
* ``decide``: features, rules and the model;
* ``store``: writing the decisions to Redis;
* ``publish``: producing the decisions and the broker's acknowledgements.
"""

from __future__ import annotations

import time

from prometheus_client import Histogram

STAGES = (
    "consume_wait",
    "projection_wait",
    "thread_hop",
    "features",
    "graph",
    "decide",
    "store",
    "publish",
)
STAGE_SECONDS = Histogram(
    "paystream_risk_stage_seconds",
    "Time a risk batch spends in each stage (consume_wait: per payment)",
    ["stage"],
    buckets=(
        0.0002,
        0.0005,
        0.001,
        0.002,
        0.003,
        0.005,
        0.0075,
        0.01,
        0.015,
        0.025,
        0.05,
        0.1,
        0.25,
        0.5,
        1.0,
        2.5,
        5.0,
    ),
)


class StageClock:
    """Laps a batch through its stages: each :meth:`lap` observes the time since the last."""

    def __init__(self) -> None:
        self.started = self._last = time.perf_counter()

    def lap(self, stage: str) -> float:
        """Observe the time since the previous lap under ``stage``; return it in seconds."""
        now = time.perf_counter()
        elapsed, self._last = now - self._last, now
        STAGE_SECONDS.labels(stage).observe(elapsed)
        return elapsed

    def skip(self) -> None:
        """Start the next lap now without observing this one (timed elsewhere)."""
        self._last = time.perf_counter()

    @property
    def elapsed_s(self) -> float:
        """Seconds since the clock started."""
        return time.perf_counter() - self.started

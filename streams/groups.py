"""The stream's consumer groups: one per sink, plus the risk agent's.

Event Hubs Standard allows 20 consumer groups per event hub. Each domain topic is read by
four groups (ledger, redis, graph, risk, the last on the payments topic only) and the change
feed by two, so a deployment uses at most 4 of the 20, and the lakehouse's bronze job, which
reads with no group at all (it keeps its offsets in its checkpoint), adds none.
"""

from __future__ import annotations

from typing import Literal

from paystream.contracts import TOPICS
from paystream.settings import Settings

SinkName = Literal["ledger", "redis", "graph"]
#: Every sink, in the order a single machine starts them.
SINKS: tuple[SinkName, ...] = ("ledger", "redis", "graph")
#: The ledger's change feed (see streams.changefeed).
FEED = "ledger"


def group_id(settings: Settings, sink: SinkName) -> str:
    """The consumer group of a sink: the ledger keeps the app id, projections add their name."""
    base = settings.streams.app_id
    return base if sink == "ledger" else f"{base}-{sink}"


def sink_topics(settings: Settings, sink: SinkName) -> list[str]:
    """The topics a sink's group reads: the domain topics, and for projections the feed."""
    topics = [settings.kafka.topic(t) for t in TOPICS]
    return topics if sink == "ledger" else [*topics, settings.kafka.topic(FEED)]


def all_groups(settings: Settings) -> dict[str, list[str]]:
    """Every group with the topics it reads, the ledger first (projections depend on it)."""
    groups = {group_id(settings, sink): sink_topics(settings, sink) for sink in SINKS}
    groups[settings.risk.app_id] = [settings.kafka.topic("payments")]
    return groups

"""Consumer lag of every stream group, for `paystream streams lag` and the demo."""

from __future__ import annotations

from paystream.bus.kafka import consumer_lag_by_topic
from paystream.settings import Settings
from streams.groups import all_groups


async def stream_lag(
    settings: Settings, groups: list[str] | None = None
) -> dict[str, dict[str, int]]:
    """Per group (ledger, projections, risk agent) and topic: records not yet committed."""
    wanted = all_groups(settings)
    chosen = wanted if groups is None else {g: wanted[g] for g in groups}
    return {
        group: await consumer_lag_by_topic(settings.kafka, group, topics)
        for group, topics in chosen.items()
    }

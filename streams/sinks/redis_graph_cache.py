"""The Redis projection's part of the graph-feature cache: uses, flags and the mark.

The same facts as the graph sink's ``USED`` edges and fraud flags
(:func:`streams.sinks.graph.plan_batch`), written in the two steps that
:mod:`paystream.stores.graph_cache` explains: first every use and flag in its customer's slot
(which returns the other half), then the devices' and cards' users and flagged users. Both
steps are idempotent, so a chunk cut short by a failure is simply written again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import redis
from redis.exceptions import NoScriptError

from paystream.contracts import Event
from paystream.contracts.events import (
    PaymentAuthorized,
    RefundIssued,
    RefundReason,
    RiskDecided,
    SessionStarted,
)
from paystream.stores.graph_cache import (
    FLAG_A,
    GRAPH_CACHE_TTL_S,
    LINK_A,
    LINK_B,
    MARK,
    SCRIPTS,
    LinkKind,
    link_member,
    parse_link,
)
from paystream.stores.redis import RedisKeys, epoch_ms, load_scripts

#: A customer's use of a device or card: (customer, kind, id, epoch ms).
Use = tuple[str, LinkKind, str, int]
# Commands per pipeline in either step: bounds the client's buffer and the server's replies.
CHUNK = 1000


def uses_and_flags(events: Iterable[Event]) -> tuple[list[Use], dict[str, int], int | None]:
    """The uses, the earliest fraud flag per customer and the newest event time (ms).

    The newest time is the mark the risk agent reads as how far the projection has got, so
    it counts business events only: a decision's time is the wall clock of its scoring.
    """
    uses: list[Use] = []
    flags: dict[str, int] = {}
    newest: int | None = None
    for event in events:
        if isinstance(event, RiskDecided):
            # Dated when it was decided, not when its payment happened: a full-speed replay's
            # decisions would carry the mark to the wall clock, past what is projected.
            continue
        at = epoch_ms(event.occurred_at)
        newest = at if newest is None else max(newest, at)
        if isinstance(event, SessionStarted):
            uses.append((event.customer_id, "device", event.device_id, at))
        elif isinstance(event, PaymentAuthorized):
            if event.device_id:
                uses.append((event.customer_id, "device", event.device_id, at))
            if event.card_fingerprint:
                uses.append((event.customer_id, "card", event.card_fingerprint, at))
        elif isinstance(event, RefundIssued) and event.reason is RefundReason.FRAUD_CHARGEBACK:
            flags[event.customer_id] = min(at, flags.get(event.customer_id, at))
    return uses, flags, newest


class GraphCacheProjection:
    """Writes the graph cache for the Redis state sink (one per sink, sharing its client)."""

    def __init__(self, client: redis.Redis[Any], keys: RedisKeys) -> None:
        self.client = client
        self.keys = keys

    def apply(self, events: Iterable[Event]) -> None:
        """Project a batch's uses and flags, then move the mark."""
        self.write(*uses_and_flags(events))

    def write(self, uses: Sequence[Use], flags: Mapping[str, int], newest: int | None) -> None:
        """Write uses and flags (idempotent; the earliest time wins), then the mark."""
        first: dict[tuple[str, LinkKind, str], int] = {}
        for customer, kind, entity, at in uses:
            key = (customer, kind, entity)
            first[key] = min(at, first.get(key, at))
        items: list[tuple[str, Any, int]] = [("use", k, at) for k, at in first.items()]
        items += [("flag", customer, at) for customer, at in flags.items()]
        for start in range(0, len(items), CHUNK):
            self._retrying(self._chunk, items[start : start + CHUNK])
        if newest is not None:
            self._retrying(self._mark, newest)

    def _mark(self, newest: int) -> None:
        pipe: Any = self.client.pipeline(transaction=False)
        pipe.evalsha(MARK.sha, 1, self.keys.graph_mark, newest)
        pipe.execute()

    def _retrying(self, step: Any, chunk: Any) -> None:
        try:
            step(chunk)
        except NoScriptError:
            # Redis restarted or flushed its script cache: every write here is idempotent.
            load_scripts(self.client, *SCRIPTS)
            step(chunk)

    def _chunk(self, items: Sequence[tuple[str, Any, int]]) -> None:
        keys = self.keys
        first_step = self.client.pipeline(transaction=False)
        for what, subject, at in items:
            if what == "use":
                customer, kind, entity = subject
                links, fraud = keys.links(customer), keys.fraud(customer)
                member = link_member(kind, entity)
                first_step.evalsha(LINK_A.sha, 2, links, fraud, at, member, GRAPH_CACHE_TTL_S)
            else:
                first_step.evalsha(FLAG_A.sha, 2, keys.fraud(subject), keys.links(subject), at)
        second_step = self.client.pipeline(transaction=False)
        for (what, subject, at), reply in zip(items, first_step.execute(), strict=True):
            if what == "use":
                customer, kind, entity = subject
                self._link_b(second_step, customer, kind, entity, at, reply)
                continue
            flag, pairs = reply[0], reply[1:]
            for i in range(0, len(pairs), 2):
                kind, entity = parse_link(pairs[i])
                self._link_b(second_step, subject, kind, entity, int(float(pairs[i + 1])), flag)
        second_step.execute()

    def _link_b(
        self, pipe: Any, customer: str, kind: LinkKind, entity: str, at: int, flag: Any
    ) -> None:
        users, flagged = self.keys.users(kind, entity), self.keys.flagged(kind, entity)
        flag_arg = "" if flag is None else flag
        pipe.evalsha(LINK_B.sha, 2, users, flagged, at, customer, GRAPH_CACHE_TTL_S, flag_arg)

"""The Redis projection: sessions, profiles, running totals and risk-feature windows.

Every write is idempotent, so the batch can be replayed or retried after a crash:

* sessions and profiles are hash upserts; a session's ``state`` is set to ``active`` only if
  absent (``HSETNX``), so an ``ended`` that overtook its ``started`` is never undone;
* running totals are *absolute* values copied from the ledger's snapshot, never increments,
  and versioned so an older snapshot arriving late never overwrites a newer one;
* windows are sorted sets keyed by payment, so re-adding a member changes nothing;
* the graph-feature cache (:mod:`streams.sinks.redis_graph_cache`) keeps each use's and
  flag's earliest time, and a mark that only moves forward;
* the merchants' payments and frauds (:mod:`streams.sinks.redis_merchant_fraud`) are sorted
  sets keyed by payment, each fraud keeping its earliest label.

The key layout, the window script and the client live in :mod:`paystream.stores.redis`,
shared with the risk agent and the API.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import redis
from redis.client import Pipeline
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError
from redis.exceptions import TimeoutError as RedisTimeoutError

from paystream.contracts.events import (
    CustomerRegistered,
    MerchantRegistered,
    PaymentAuthorized,
    SessionEnded,
    SessionStarted,
)
from paystream.errors import ServiceUnavailableError
from paystream.ledger.totals import Totals
from paystream.settings import RedisSettings
from paystream.stores.progress import PROGRESS, progress_field
from paystream.stores.redis import (
    DAY_MS,
    HOUR_MS,
    MINUTE_MS,
    WINDOW,
    WINDOW_KEY_TTL_S,
    OwnerKind,
    RedisKeys,
    Script,
    WindowKind,
    decode_member,
    encode_member,
    epoch_ms,
    load_scripts,
    parse_totals,
    redis_where,
    sync_client,
    window_args,
)
from streams.sinks.port import Envelope, LedgerSnapshot
from streams.sinks.redis_graph_cache import GraphCacheProjection, Use
from streams.sinks.redis_merchant_fraud import MerchantFraudProjection

# An ended session lingers briefly as a tombstone: long enough that a late ``started`` finds
# the ended marker instead of recreating an active session.
ENDED_TTL_S = 300
# Non-transactional chunks: every command is idempotent, so a chunk half-applied before a
# failure is simply re-applied when the pipeline retries the batch. MULTI/EXEC would buy no
# correctness here, would block the server for the whole batch and would not span cluster
# slots; chunking bounds the client's buffer and the server's reply memory.
CHUNK_COMMANDS = 1000
# Members per script call: keeps each EVALSHA's argument list (and the time the script holds
# the server) small for a very hot entity.
SCRIPT_PAIRS = 250

# Totals are absolute copies of ledger rows, and two workers' snapshots of one merchant can
# arrive out of order. captured_count + refund_count only ever grows with each booking, so it
# versions a snapshot: an older one (smaller sum) never overwrites a newer one. Equal sums are
# the same snapshot, rewritten harmlessly by a replay.
TOTALS_SCRIPT = """
local key = KEYS[1]
for i = 1, #ARGV, 6 do
  local c = ARGV[i]
  local stored = redis.call('HMGET', key, c .. ':captured_count', c .. ':refund_count')
  local version = -1
  if stored[1] then version = tonumber(stored[1]) + tonumber(stored[2] or '0') end
  if tonumber(ARGV[i + 2]) + tonumber(ARGV[i + 4]) >= version then
    redis.call('HSET', key, c .. ':captured_minor', ARGV[i + 1], c .. ':captured_count',
      ARGV[i + 2], c .. ':refunded_minor', ARGV[i + 3], c .. ':refund_count', ARGV[i + 4],
      c .. ':net_minor', ARGV[i + 5])
  end
end
return 1
"""
TOTALS = Script(TOTALS_SCRIPT)
TOTALS_SCRIPT_SHA = TOTALS.sha

_Op = Callable[["Pipeline[Any]"], object]


# -- pure helpers ---------------------------------------------------------------------------


@dataclass(frozen=True)
class WindowFeatures:
    """Authorizations in the last minute, hour and day before ``now`` (inclusive of ``now``).

    Counts cover every currency. Amounts cannot be summed across currencies, so they are in
    ``currency``: the one with most authorizations in the 24 h window (ties: lowest code), and
    ``None`` when the window is empty. A customer almost always pays in one currency, and the
    scorer wants one comparable number, not a per-currency map.
    """

    count_1m: int = 0
    amount_1m_minor: int = 0
    count_1h: int = 0
    amount_1h_minor: int = 0
    count_24h: int = 0
    amount_24h_minor: int = 0
    currency: str | None = None


def summarize_window(entries: Iterable[tuple[str, float]], now_ms: int) -> WindowFeatures:
    """Features from ``(member, score)`` pairs; a pair counts in a window if
    ``now - span < score <= now``, so later events (seen during replay) never leak in."""
    rows = [(*decode_member(member), int(score)) for member, score in entries]
    rows = [r for r in rows if now_ms - DAY_MS < r[3] <= now_ms]
    per_currency = Counter(currency for _, _, currency, _ in rows)
    if not per_currency:
        return WindowFeatures()
    currency = min(per_currency, key=lambda c: (-per_currency[c], c))
    values: dict[str, int] = {}
    for label, span in (("1m", MINUTE_MS), ("1h", HOUR_MS), ("24h", DAY_MS)):
        inside = [r for r in rows if r[3] > now_ms - span]
        values[f"count_{label}"] = len(inside)
        values[f"amount_{label}_minor"] = sum(r[1] for r in inside if r[2] == currency)
    return WindowFeatures(currency=currency, **values)


# -- the sink -------------------------------------------------------------------------------


class RedisStateSink:
    """Projects batches into Redis and serves the state back to the API and risk scorer."""

    name = "redis"

    def __init__(self, settings: RedisSettings, namespace: str = "ps") -> None:
        url = settings.url.get_secret_value()
        self.keys = RedisKeys(namespace)
        self.session_ttl_s = settings.session_ttl_s
        self._where = redis_where(url)
        self._client: redis.Redis[Any] = sync_client(settings)
        self._graph = GraphCacheProjection(self._client, self.keys)
        self._merchant_fraud = MerchantFraudProjection(self._client, self.keys)

    # -- writes ------------------------------------------------------------------------

    def apply(self, batch: Sequence[Envelope], snapshot: LedgerSnapshot) -> None:
        """Write the batch idempotently, in pipelined chunks of :data:`CHUNK_COMMANDS`."""
        ops = [*self._event_ops(batch), *self._totals_ops(snapshot)]
        with self._guard():
            for start in range(0, len(ops), CHUNK_COMMANDS):
                self._execute(ops[start : start + CHUNK_COMMANDS])
            self._merchant_fraud.apply(item.event for item in batch)
            # After the windows and totals; the mark, written last, says all of it is there.
            self._graph.apply(item.event for item in batch)
            # Last of all: a risk agent deciding history reads this to know the batch is in.
            self._progress(batch)

    def _progress(self, batch: Sequence[Envelope]) -> None:
        """Record, per source partition, the next offset and its last applied event's time."""
        reached: dict[str, tuple[int, int]] = {}
        for item in batch:
            name = progress_field(item.topic, item.partition)
            offset = reached.get(name, (0, 0))[0]
            if item.offset + 1 > offset:
                reached[name] = (item.offset + 1, epoch_ms(item.event.occurred_at))
        if not reached:
            return
        args = [value for name, (o, t) in reached.items() for value in (name, o, t)]
        for attempt in (1, 2):
            pipe: Any = self._client.pipeline(transaction=False)
            pipe.evalsha(PROGRESS.sha, 1, self.keys.progress, *args)
            try:
                pipe.execute()
                return
            except NoScriptError:
                if attempt == 2:
                    raise
                load_scripts(self._client, PROGRESS)

    def _execute(self, chunk: Sequence[_Op]) -> None:
        try:
            self._run(chunk)
        except NoScriptError:
            # Script cache is empty (Redis restarted or flushed): load it and redo the chunk,
            # which is safe because every command in it is idempotent.
            load_scripts(self._client, WINDOW, TOTALS)
            self._run(chunk)

    def _run(self, chunk: Sequence[_Op]) -> None:
        pipe = self._client.pipeline(transaction=False)
        for op in chunk:
            op(pipe)
        pipe.execute()

    def _event_ops(self, batch: Sequence[Envelope]) -> Iterator[_Op]:
        windows: dict[str, dict[str, int]] = defaultdict(dict)
        for item in batch:
            event = item.event
            if isinstance(event, SessionStarted):
                yield from self._session_started(event)
            elif isinstance(event, SessionEnded):
                yield from self._session_ended(event)
            elif isinstance(event, CustomerRegistered):
                fields = {
                    "customer_id": event.customer_id,
                    "country": event.country,
                    "guest": "1" if event.guest else "0",
                    "registered_at": event.occurred_at.isoformat(),
                }
                if event.email_sha256:
                    fields["email_sha256"] = event.email_sha256
                yield _hset(self.keys.profile("customer", event.customer_id), fields)
            elif isinstance(event, MerchantRegistered):
                fields = {
                    "merchant_id": event.merchant_id,
                    "name": event.name,
                    "category": event.category,
                    "country": event.country,
                    "settlement_currency": event.settlement_currency,
                    "registered_at": event.occurred_at.isoformat(),
                }
                yield _hset(self.keys.profile("merchant", event.merchant_id), fields)
            elif isinstance(event, PaymentAuthorized):
                member = encode_member(
                    event.payment_id, event.amount.amount_minor, event.amount.currency
                )
                score = epoch_ms(event.occurred_at)
                entities: list[tuple[WindowKind, str | None]] = [
                    ("customer", event.customer_id),
                    ("card", event.card_fingerprint),
                    ("device", event.device_id),
                ]
                for kind, entity_id in entities:
                    if entity_id:
                        windows[self.keys.window(kind, entity_id)][member] = score
                        local = self.keys.window(kind, entity_id, event.merchant_id)
                        windows[local][member] = score
        # One script call per entity (per SCRIPT_PAIRS members), not per event.
        for key, members in windows.items():
            pairs = list(members.items())
            for start in range(0, len(pairs), SCRIPT_PAIRS):
                yield _window_add(key, pairs[start : start + SCRIPT_PAIRS])

    def _session_started(self, event: SessionStarted) -> Iterator[_Op]:
        key = self.keys.session(event.session_id)
        fields = {
            "session_id": event.session_id,
            "customer_id": event.customer_id,
            "device_id": event.device_id,
            "ip_country": event.ip_country,
            "channel": event.channel,
            "started_at": event.occurred_at.isoformat(),
        }
        yield _hset(key, fields)
        yield lambda p: p.hsetnx(key, "state", "active")
        # NX: a key that already has a TTL is either live (a replay must not extend it) or an
        # ended tombstone (whose short TTL must stand).
        yield lambda p: p.expire(key, self.session_ttl_s, nx=True)

    def _session_ended(self, event: SessionEnded) -> Iterator[_Op]:
        key = self.keys.session(event.session_id)
        fields = {
            "session_id": event.session_id,
            "customer_id": event.customer_id,
            "state": "ended",
            "ended_at": event.occurred_at.isoformat(),
            "end_reason": event.reason,
        }
        yield _hset(key, fields)
        # LT: shorten a live session's TTL, but a replayed ``ended`` never lengthens it again.
        yield lambda p: p.expire(key, ENDED_TTL_S, lt=True)

    def _totals_ops(self, snapshot: LedgerSnapshot) -> Iterator[_Op]:
        sources: tuple[tuple[OwnerKind, dict[tuple[str, str], Totals]], ...] = (
            ("merchant", snapshot.merchants),
            ("customer", snapshot.customers),
        )
        for kind, source in sources:
            grouped: dict[str, dict[str, Totals]] = defaultdict(dict)
            for (owner_id, currency), totals in source.items():
                grouped[owner_id][currency] = totals
            for owner_id, by_currency in grouped.items():
                yield _totals_set(self.keys.totals(kind, owner_id), by_currency)

    def apply_links(self, links: Sequence[tuple[str, str, str, datetime]]) -> None:
        """Write customers' first uses of devices and cards (a rebuild from the ledger)."""
        uses: list[Use] = [
            (customer, "device" if kind == "device" else "card", entity, epoch_ms(when))
            for customer, kind, entity, when in links
        ]
        with self._guard():
            self._graph.write(uses, {}, max((u[3] for u in uses), default=None))

    # -- rebuild marker ------------------------------------------------------------------

    @property
    def built_key(self) -> str:
        """Key whose presence says this namespace holds a full projection of the ledger."""
        return f"{self.keys.namespace}:meta:built"

    def mark_built(self) -> None:
        """Record that the namespace was (re)built from the ledger."""
        with self._guard():
            self._client.set(self.built_key, datetime.now(UTC).isoformat())

    def is_built(self) -> bool:
        """False when Redis lost the namespace (restart without persistence) or never had it."""
        with self._guard():
            return bool(self._client.exists(self.built_key))

    # -- reads -------------------------------------------------------------------------

    def window_features(
        self, kind: WindowKind, entity_id: str, now: datetime, merchant_id: str | None = None
    ) -> WindowFeatures:
        """Counts and amounts over 1 min, 1 h and 24 h up to ``now`` (at one merchant, if
        given): one ZRANGEBYSCORE."""
        key = self.keys.window(kind, entity_id, merchant_id)
        now_ms = epoch_ms(now)
        with self._guard():
            entries = self._client.zrangebyscore(
                key, f"({now_ms - DAY_MS}", now_ms, withscores=True
            )
        return summarize_window(entries, now_ms)

    def totals(self, kind: OwnerKind, owner_id: str) -> dict[str, Totals]:
        """Absolute totals of a merchant or customer by currency, as last copied from the ledger."""
        key = self.keys.totals(kind, owner_id)
        with self._guard():
            fields = self._client.hgetall(key)
        return parse_totals(fields)

    def profile(self, kind: OwnerKind, entity_id: str) -> dict[str, str]:
        """Registration fields of a customer or merchant; empty if never registered."""
        key = self.keys.profile(kind, entity_id)
        with self._guard():
            return dict(self._client.hgetall(key))

    def session(self, session_id: str) -> dict[str, str] | None:
        """A session's fields (``state`` is ``active`` or ``ended``), or None once expired."""
        with self._guard():
            fields = self._client.hgetall(self.keys.session(session_id))
        return dict(fields) or None

    def close(self) -> None:
        """Release the connection pool."""
        self._client.close()

    @contextmanager
    def _guard(self) -> Iterator[None]:
        try:
            yield
        except (RedisConnectionError, RedisTimeoutError) as exc:
            raise ServiceUnavailableError("Redis", self._where, str(exc)) from exc


def _hset(key: str, fields: Mapping[str, str | int]) -> _Op:
    # The client's stubs want a mapping keyed by ``str | bytes`` (Mapping keys are invariant).
    mapping: dict[str | bytes, str | int] = {k: v for k, v in fields.items()}
    return lambda p: p.hset(key, mapping=mapping)


def _totals_set(key: str, by_currency: Mapping[str, Totals]) -> _Op:
    args: list[str | int] = []
    for currency, t in sorted(by_currency.items()):
        args += [currency, t.captured_minor, t.captured_count, t.refunded_minor, t.refund_count]
        args.append(t.net_minor)
    return lambda p: p.evalsha(TOTALS_SCRIPT_SHA, 1, key, *args)


def _window_add(key: str, pairs: Sequence[tuple[str, int]]) -> _Op:
    args = window_args([(score, member) for member, score in pairs])
    return lambda p: p.evalsha(WINDOW.sha, 1, key, *args)


__all__ = [
    "DAY_MS",
    "WINDOW_KEY_TTL_S",
    "OwnerKind",
    "RedisKeys",
    "RedisStateSink",
    "WindowKind",
    "decode_member",
    "encode_member",
    "epoch_ms",
    "redis_where",
    "summarize_window",
]

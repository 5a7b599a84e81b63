"""The Redis adapter: clients, the key layout and the Lua scripts shared by every role.

The stream's projection writes these keys, the risk agent reads and extends them, the API
and the recommender read them; each builds its client here, from
:class:`~paystream.settings.RedisSettings`, so timeouts and decoding are decided once.

Key layout (``{ns}`` is the namespace, ``ps`` by default). Every key of one customer, card or
device carries the hash tag ``{kind:id}``, so a script may touch all of an entity's keys in
one call and still run on Redis Cluster::

    {ns}:session:{session_id}               hash, TTL session_ttl_s (ENDED_TTL_S once ended)
    {ns}:customer:{id} / merchant:{id}      hash of registration fields
    {ns}:totals:{merchant|customer}:{id}    hash of "{currency}:{field}" -> int
    {ns}:{{kind}:{id}}:win                  zset "{payment_id}|{amount}|{currency}" @ epoch
                                            ms, kind customer, card or device, every merchant
    {ns}:{{kind}:{id}}:mwin:{merchant}      the same at one merchant
    {ns}:{{customer}:{id}}:seen:{what}      zset of devices or countries @ first sighting (ms)

The graph-feature cache (:mod:`paystream.stores.graph_cache`)::

    {ns}:{{customer}:{id}}:links            zset "{device|card}|{id}" @ first use (ms)
    {ns}:{{customer}:{id}}:fraud            string: first fraud chargeback (ms)
    {ns}:{{device|card}:{id}}:users         zset customer @ first use (ms)
    {ns}:{{device|card}:{id}}:flagged       zset flagged customer @ max(first use, flag)
    {ns}:graph:mark                         newest event time the projection wrote (ms)

Every ``{id}``, ``{merchant}`` and ``{session_id}`` above is the id through
:func:`~paystream.contracts.keys.key_part` (``%``, ``:``, ``{`` and ``}`` percent-encoded), so
no id can reach another key or another slot; an id without those characters is written as it
is. Served results (recommendations, decisions, API keys) are laid out in
:mod:`paystream.contracts.served`. Needs Redis >= 7.0 (``EXPIRE ... NX|LT``).
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Literal, get_args
from urllib.parse import urlsplit

from paystream.contracts.keys import key_part
from paystream.ledger.totals import Totals
from paystream.settings import RedisSettings

if TYPE_CHECKING:
    import redis
    import redis.asyncio

WindowKind = Literal["customer", "card", "device"]
OwnerKind = Literal["merchant", "customer"]
SeenKind = Literal["device", "country"]

MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS
# Window keys outlive the widest window by an hour so a quiet entity's last day is readable.
WINDOW_KEY_TTL_S = 25 * 3600
CONNECT_TIMEOUT_S = 5.0
SOCKET_TIMEOUT_S = 10.0

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


# -- clients ----------------------------------------------------------------------------------


def _options(decode: bool, timeout_s: float) -> dict[str, Any]:
    # One set of connection options for the blocking and the asyncio client alike.
    return {
        "decode_responses": decode,
        "socket_connect_timeout": min(CONNECT_TIMEOUT_S, timeout_s),
        "socket_timeout": timeout_s,
    }


@lru_cache(maxsize=8)
def _sync_client(url: str, decode: bool, timeout_s: float) -> redis.Redis[Any]:
    import redis as redis_lib

    # from_url connects lazily, so an unreachable Redis surfaces on first use.
    return redis_lib.Redis.from_url(url, **_options(decode, timeout_s))


def sync_client(
    settings: RedisSettings, *, decode_responses: bool = True, timeout_s: float = SOCKET_TIMEOUT_S
) -> redis.Redis[Any]:
    """The process's blocking client for these settings (one connection pool per URL).

    The same arguments return the same client, so every part of a worker shares one pool.
    """
    return _sync_client(settings.url.get_secret_value(), decode_responses, timeout_s)


def async_client(
    settings: RedisSettings, *, decode_responses: bool = True, timeout_s: float = SOCKET_TIMEOUT_S
) -> redis.asyncio.Redis[Any]:
    """A new asyncio client; build it once per event loop (its pool is bound to the loop)."""
    import redis.asyncio as aioredis

    return aioredis.Redis.from_url(
        settings.url.get_secret_value(), **_options(decode_responses, timeout_s)
    )


def redis_where(url: str) -> str:
    """Where Redis was expected, without credentials (the URL may carry a password)."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return f"unix:{parts.path}"
    host = parts.hostname or "localhost"
    return f"{parts.scheme}://{host}:{parts.port or 6379}{parts.path}"


# -- keys -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RedisKeys:
    """Builds every key of the projection under one namespace.

    Every id goes into its key through :func:`~paystream.contracts.keys.key_part`, so an id
    holding ``:`` or a brace can neither name another key nor leave its entity's hash tag.
    """

    namespace: str

    def __post_init__(self) -> None:
        # A brace in the namespace would become the hash tag of every key without one.
        if "{" in self.namespace or "}" in self.namespace:
            raise ValueError(f"a Redis namespace holds no braces: {self.namespace!r}")

    def session(self, session_id: str) -> str:
        """Hash of one app session."""
        return f"{self.namespace}:session:{key_part(session_id)}"

    def profile(self, kind: OwnerKind, entity_id: str) -> str:
        """Hash of a customer's or merchant's registration."""
        _check_kind(kind, OwnerKind)
        return f"{self.namespace}:{kind}:{key_part(entity_id)}"

    def totals(self, kind: OwnerKind, owner_id: str) -> str:
        """Hash of absolute running totals, fields ``{currency}:{field}``."""
        _check_kind(kind, OwnerKind)
        return f"{self.namespace}:totals:{kind}:{key_part(owner_id)}"

    def entity(self, kind: WindowKind, entity_id: str) -> str:
        """The prefix, hash tag included, of every key of one customer, card or device."""
        _check_kind(kind, WindowKind)
        return f"{self.namespace}:{{{kind}:{key_part(entity_id)}}}"

    def window(self, kind: WindowKind, entity_id: str, merchant_id: str | None = None) -> str:
        """Sorted set of recent authorizations for one customer, card or device.

        Across every merchant by default; with ``merchant_id``, at that merchant only. Any
        merchant may post a payment naming any customer, card or device, so the shared window
        is evidence one merchant could forge for another: a decline must also hold on the
        merchant's own windows (``risk.scorer``, docs/risk.md).
        """
        prefix = self.entity(kind, entity_id)
        if merchant_id is None:
            return f"{prefix}:win"
        return f"{prefix}:mwin:{key_part(merchant_id)}"

    def days(self, customer_id: str, merchant_id: str | None = None) -> str:
        """Sorted set of a customer's authorizations: its whole history across every merchant
        (the day windows and the lifetime before each payment), or the last month at
        ``merchant_id`` only (as :meth:`window`)."""
        prefix = self.entity("customer", customer_id)
        if merchant_id is None:
            return f"{prefix}:days"
        return f"{prefix}:mdays:{key_part(merchant_id)}"

    def days_totals(self, customer_id: str) -> str:
        """Hash of running totals over the customer's whole-history :meth:`days` set (its
        count, and count and sum per currency), kept equal to the set by the risk agent."""
        return f"{self.entity('customer', customer_id)}:days:totals"

    def _merchant(self, merchant_id: str) -> str:
        return f"{self.namespace}:{{merchant:{key_part(merchant_id)}}}"

    def merchant_payments(self, merchant_id: str) -> str:
        """A merchant's payments (members: payment ids), scored by authorization time."""
        return f"{self._merchant(merchant_id)}:payments"

    def merchant_frauds(self, merchant_id: str) -> str:
        """A merchant's charged-back payments (``"{payment}|{label ms}"``), by auth time."""
        return f"{self._merchant(merchant_id)}:frauds"

    def merchant_refunds(self, merchant_id: str) -> str:
        """A merchant's refunds of every reason (members: refund ids), scored by issue time."""
        return f"{self._merchant(merchant_id)}:refunds"

    def seen(self, customer_id: str, what: SeenKind) -> str:
        """Zset of a customer's devices or countries, scored by first sighting (epoch ms)."""
        _check_kind(what, SeenKind)
        return f"{self.entity('customer', customer_id)}:seen:{what}"

    def links(self, customer_id: str) -> str:
        """A customer's devices and cards (``"{kind}|{id}"``), scored by first use."""
        return f"{self.entity('customer', customer_id)}:links"

    def fraud(self, customer_id: str) -> str:
        """The time of a customer's first fraud chargeback (epoch ms)."""
        return f"{self.entity('customer', customer_id)}:fraud"

    def users(self, kind: WindowKind, entity_id: str) -> str:
        """Customers who used a device or card, scored by their first use."""
        return f"{self.entity(kind, entity_id)}:users"

    def flagged(self, kind: WindowKind, entity_id: str) -> str:
        """Flagged customers who used a device or card, @ the later of first use and flag."""
        return f"{self.entity(kind, entity_id)}:flagged"

    @property
    def graph_mark(self) -> str:
        """The newest event time the projection has written to the graph cache."""
        return f"{self.namespace}:graph:mark"

    @property
    def gold_freshness(self) -> str:
        """Hash of the lakehouse service's last refresh
        (:class:`~paystream.contracts.freshness.GoldFreshness`)."""
        return f"{self.namespace}:lakehouse:freshness"

    @property
    def progress(self) -> str:
        """Hash of the state projection's progress per source partition: field
        ``{topic}:{partition}``, value ``{next offset}:{newest event ms}``."""
        return f"{self.namespace}:progress"


def _check_kind(kind: str, allowed: Any) -> None:
    if kind not in get_args(allowed):
        raise ValueError(f"unknown kind {kind!r}; expected one of {get_args(allowed)}")


def epoch_ms(moment: datetime) -> int:
    """Milliseconds since the Unix epoch, in integer arithmetic (no float rounding)."""
    if moment.tzinfo is None:
        raise ValueError("datetime must carry a timezone")
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def encode_member(payment_id: str, amount_minor: int, currency: str) -> str:
    """Window member: one per payment, so the same authorization is counted once."""
    return f"{payment_id}|{amount_minor}|{currency}"


def decode_member(member: str) -> tuple[str, int, str]:
    """Inverse of :func:`encode_member`: ``(payment_id, amount_minor, currency)``."""
    payment_id, amount, currency = member.rsplit("|", 2)
    return payment_id, int(amount), currency


# -- totals -----------------------------------------------------------------------------------

#: The fields of one currency's totals in ``{ns}:totals:{kind}:{id}`` (``"{currency}:{field}"``).
TOTAL_FIELDS = ("captured_minor", "captured_count", "refunded_minor", "refund_count")


def totals_fields(by_currency: Mapping[str, Totals]) -> dict[str, int]:
    """Hash fields for one owner's totals; ``net_minor`` is stored for readers' convenience."""
    fields: dict[str, int] = {}
    for currency, totals in by_currency.items():
        for name in TOTAL_FIELDS:
            fields[f"{currency}:{name}"] = getattr(totals, name)
        fields[f"{currency}:net_minor"] = totals.net_minor
    return fields


def parse_totals(fields: Mapping[str, str]) -> dict[str, Totals]:
    """Inverse of :func:`totals_fields`, keyed by currency (``net_minor`` is derived)."""
    raw: dict[str, dict[str, int]] = defaultdict(dict)
    for field, value in fields.items():
        currency, _, name = field.partition(":")
        if name in TOTAL_FIELDS:
            raw[currency][name] = int(value)
    return {currency: Totals(**values) for currency, values in raw.items()}


# -- scripts ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Script:
    """A Lua script called by SHA-1; load :attr:`body` when the server answers NOSCRIPT."""

    body: str

    @property
    def sha(self) -> str:
        """Redis names a script by the SHA-1 of its body; computing it saves a round trip."""
        return hashlib.sha1(self.body.encode(), usedforsecurity=False).hexdigest()


# The window script of the state projection (many members, no read); the risk agent's entity
# scripts embed the same read. It adds members, then trims relative to the *newest* score in
# the set (less WINDOW_SLACK_MS) rather than this call's events: a replayed old batch then
# cannot re-add members that a newer event already trimmed, so the set is the same whatever
# order events arrive in. With a read time it returns the counts of the minute, hour and day up to
# that time (never later payments, so a replay reads what the first pass read) and the hour's
# amount in the given currency; without one it returns the set's size.
# ARGV: span_ms, ttl_s, read_at_ms ('' for no read), currency, then score/member pairs.
WINDOW_READ_LUA = """
local function window_read(key, span, at, currency)
  local rows = redis.call('ZRANGEBYSCORE', key, string.format('(%.0f', at - span),
    string.format('%.0f', at), 'WITHSCORES')
  local m, h, d, amount = 0, 0, 0, 0
  for i = 1, #rows, 2 do
    local t = tonumber(rows[i + 1])
    d = d + 1
    if t > at - 3600000 then
      h = h + 1
      local value, cur = string.match(rows[i], '|(%-?%d+)|(%u+)$')
      if cur == currency then amount = amount + tonumber(value) end
    end
    if t > at - 60000 then m = m + 1 end
  end
  return {m, h, d, amount}
end
local function window_trim(key, span, ttl)
  local newest = redis.call('ZREVRANGE', key, 0, 0, 'WITHSCORES')
  if newest[2] then
    redis.call('ZREMRANGEBYSCORE', key, '-inf', string.format('(%.0f', tonumber(newest[2]) - span))
  end
  redis.call('EXPIRE', key, ttl)
end
"""
#: Members are kept this much longer than the window spans: the risk agent reads the windows
#: at each payment's own time and may run behind the projection, by as much as a whole history
#: imported at full speed (the projection can finish it before the agent is half-way), so a
#: trim relative to the projection's newest event must not cut what the agent still reads.
#: A history of up to this many days then reads exactly what a live-paced one does.
WINDOW_SLACK_MS = 60 * DAY_MS
WINDOW = Script(
    WINDOW_READ_LUA
    + """
local key = KEYS[1]
local span = tonumber(ARGV[1])
for i = 5, #ARGV, 2 do
  redis.call('ZADD', key, ARGV[i], ARGV[i + 1])
end
window_trim(key, span + """
    + str(WINDOW_SLACK_MS)
    + """, ARGV[2])
if ARGV[3] == '' then
  return redis.call('ZCARD', key)
end
return window_read(key, span, tonumber(ARGV[3]), ARGV[4])
"""
)


def load_scripts(client: redis.Redis[Any], *scripts: Script) -> None:
    """Load scripts after NOSCRIPT (Redis restarted or flushed its script cache)."""
    for script in scripts:
        # The stubs leave script_load untyped; it takes the body and returns its SHA-1.
        client.script_load(script.body)  # type: ignore[no-untyped-call]


def window_args(
    pairs: list[tuple[int, str]], *, read_at_ms: int | None = None, currency: str = ""
) -> list[Any]:
    """ARGV of :data:`WINDOW` for a day-wide window: ``(score_ms, member)`` pairs to add."""
    args: list[Any] = [DAY_MS, WINDOW_KEY_TTL_S, "" if read_at_ms is None else read_at_ms, currency]
    for score, member in pairs:
        args += [score, member]
    return args

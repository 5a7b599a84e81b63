"""Feature lookups for the risk agent: one Redis round trip per batch.

Each payment costs one script call per entity, in the entity's own cluster slot (its keys
share the hash tag ``{kind:id}``, :mod:`paystream.stores.redis`):

* :data:`PAYER`, for the customer: adds the payment to the customer's windows (every merchant
  and this one), records the device and country sightings and the uses of the device and card
  (the graph cache's links), then reads the windows, the first sightings, the customer's
  fraud flag and its links, all up to the payment's own time;
  it also adds the payment to the customer's whole history (every merchant) and its month
  at this merchant, and reads the day windows (:class:`DayWindows`) and its earlier payments
  (:class:`~risk.customer_days.Earlier`, from the history's running totals when the payment
  is the newest) up to then;
* :data:`~paystream.stores.merchant_fraud.READ_RATE`, for the merchant: adds the payment to
  its payments and reads its delayed fraud rate over days and its 30-day refunds;
* :data:`INSTRUMENT`, for the card and for the device: adds the payment to its windows and the
  customer to its users, then reads the windows, its users and its flagged users up to then.

The writes are the same idempotent members and earliest times the state projection writes,
so whichever writer comes first, each payment is counted once. Because every read is bounded
at the payment's own time and first sightings keep the minimum (``ZADD LT``), a replay
computes the same features as the first pass. Profiles are read once per customer and
merchant in the batch, and each payment's stored decision once. Nothing is read from the
projected running totals: the customer's earlier payments come from its own history set, and
the merchant's refund rate from its refunds and payments in event time.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import redis
from redis.exceptions import NoScriptError

from paystream.contracts.events import PaymentAuthorized
from paystream.contracts.fraud_features import DAY_WINDOWS, DayWindows, MerchantFraud, Window
from paystream.contracts.served import ServedKeys
from paystream.stores.graph_cache import GRAPH_CACHE_TTL_S
from paystream.stores.merchant_fraud import MERCHANT_TTL_S, READ_RATE, REFUND_SPAN_MS
from paystream.stores.progress import PartitionProgress, parse_progress
from paystream.stores.redis import (
    DAY_MS,
    WINDOW_KEY_TTL_S,
    WINDOW_READ_LUA,
    RedisKeys,
    Script,
    WindowKind,
    encode_member,
    epoch_ms,
    load_scripts,
)
from risk.customer_days import (
    DAYS_KEEP_MS,
    DAYS_LUA,
    DAYS_TTL_S,
    HISTORY_KEEP_MS,
    HISTORY_TTL_S,
    Earlier,
    day_windows,
)

SEEN_TTL_S = 400 * 86400
#: At most this many of a payer's devices and cards, and of one device's or card's flagged
#: users, are read: one customer with thousands of cards cannot make a batch slow.
MAX_LINKS = 64

# Both scripts start by adding the payment to the entity's two windows and reading them back.
# No trim here: reads are bounded by time, and the state projection trims on its own writes
# (four calls of the script's nineteen, saved on the decision's path); the TTL bounds a key it never
# reaches.
_WINDOWS = """
local span, at = tonumber(ARGV[1]), tonumber(ARGV[3])
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[4])
redis.call('EXPIRE', KEYS[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[4])
redis.call('EXPIRE', KEYS[2], ARGV[2])
local out = window_read(KEYS[1], span, at, ARGV[5])
local here = window_read(KEYS[2], span, at, ARGV[5])
for i = 1, 4 do out[#out + 1] = here[i] end
"""
# KEYS: window, merchant window, seen:device, seen:country, links, fraud, days, merchant days,
# the days' totals (risk.customer_days).
# ARGV: span, window TTL, at, member, currency, device, country, seen TTL, card, links TTL,
# max links ('' for an absent device, country or card), merchant days kept (ms) and TTL, the
# whole history's kept (ms) and TTL.
# Returns 8 window counts; this device's first sighting and the customer's earliest of any
# device; the same for countries; the fraud flag's time; 11 day-window and history values
# everywhere and 8 day-window values at this merchant; then the links up to ``at``.
PAYER = Script(
    WINDOW_READ_LUA
    + _WINDOWS
    + DAYS_LUA
    + """
for i = 0, 1 do
  local key, value = KEYS[3 + i], ARGV[6 + i]
  if value == '' then
    out[#out + 1] = false
    out[#out + 1] = false
  else
    redis.call('ZADD', key, 'LT', ARGV[3], value)
    redis.call('EXPIRE', key, ARGV[8])
    out[#out + 1] = redis.call('ZSCORE', key, value)
    out[#out + 1] = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')[2]
  end
end
if ARGV[6] ~= '' then redis.call('ZADD', KEYS[5], 'LT', ARGV[3], 'device|' .. ARGV[6]) end
if ARGV[9] ~= '' then redis.call('ZADD', KEYS[5], 'LT', ARGV[3], 'card|' .. ARGV[9]) end
redis.call('EXPIRE', KEYS[5], ARGV[10])
out[#out + 1] = redis.call('GET', KEYS[6])
local everywhere = days(KEYS[7], tonumber(ARGV[14]), ARGV[15], KEYS[9])
for i = 1, 11 do out[#out + 1] = everywhere[i] end
local here = days(KEYS[8], tonumber(ARGV[12]), ARGV[13], nil)
for i = 1, 8 do out[#out + 1] = here[i] end
local links = redis.call('ZRANGEBYSCORE', KEYS[5], '-inf', ARGV[3], 'LIMIT', 0, ARGV[11])
for i = 1, #links do out[#out + 1] = links[i] end
return out
"""
)
# KEYS: window, merchant window, users, flagged. ARGV: span, window TTL, at, member, currency,
# customer, users TTL, max flagged. Returns 8 window counts, the users up to ``at``, then the
# flagged users up to then.
INSTRUMENT = Script(
    WINDOW_READ_LUA
    + _WINDOWS
    + """
redis.call('ZADD', KEYS[3], 'LT', ARGV[3], ARGV[6])
redis.call('EXPIRE', KEYS[3], ARGV[7])
out[#out + 1] = redis.call('ZCOUNT', KEYS[3], '-inf', ARGV[3])
local flagged = redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', ARGV[3], 'LIMIT', 0, ARGV[8])
for i = 1, #flagged do out[#out + 1] = flagged[i] end
return out
"""
)
STORE = Script(
    """
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('EXPIRE', KEYS[1], ARGV[1])
return 1
"""
)
SCRIPTS = (PAYER, INSTRUMENT, STORE, READ_RATE)
# Offsets in the payer's reply (see PAYER).
_DAYS_AT, _LOCAL_DAYS_AT, _LINKS_AT = 13, 24, 32


@dataclass(frozen=True)
class LocalWindows:
    """The customer's, card's and device's windows at the paying merchant only."""

    customer: Window
    card: Window | None
    device: Window | None
    customer_days: DayWindows | None = None


@dataclass(frozen=True)
class GraphReads:
    """The graph cache's answers for one payment, from the same round trip."""

    at_ms: int
    customer_id: str = ""
    device_users: int = 0
    card_users: int = 0
    # Flagged users of this payment's device and card, up to its time.
    flagged: frozenset[str] = frozenset()
    # The payer's devices and cards up to its time ("{kind}|{id}"), this payment's included.
    links: tuple[str, ...] = ()
    own: tuple[str, ...] = ()  # this payment's device and card, as links
    flagged_at_ms: int | None = None  # the payer's own fraud flag


@dataclass(frozen=True)
class RedisFacts:
    """What Redis knows about one authorization's customer, card, device and merchant.

    ``customer``, ``card`` and ``device`` count authorizations at every merchant; ``local``
    the same at this payment's merchant.
    """

    customer: Window
    card: Window | None
    device: Window | None
    local: LocalWindows
    customer_profile: dict[str, str]
    merchant_profile: dict[str, str]
    device_first_seen_ms: int | None
    country_first_seen_ms: int | None
    # Earliest sighting of any device / country of the customer: None when never seen.
    earliest_device_ms: int | None
    earliest_country_ms: int | None
    stored: dict[str, str]
    graph: GraphReads = field(default_factory=lambda: GraphReads(0))
    # The newest event time the projection wrote to the graph cache (None: never).
    graph_mark_ms: int | None = None
    customer_days: DayWindows | None = None
    merchant_fraud: MerchantFraud | None = None
    # The customer's earlier payments (its whole history, up to the payment's time).
    earlier: Earlier = field(default_factory=lambda: Earlier(0, 0, 0))
    # The merchant's (payments, refunds) of the last 30 days, this payment included.
    merchant_refunds: tuple[int, int] = (0, 0)
    # The state projection's position per source partition (the same for the whole batch).
    progress: dict[str, PartitionProgress] = field(default_factory=dict)


def _ms(value: Any) -> int | None:
    return None if value is None else int(float(value))


class RiskRedis:
    """The risk agent's Redis reads and writes."""

    def __init__(
        self, client: redis.Redis[Any], namespace: str, label_delay_ms: int = 7 * DAY_MS
    ) -> None:
        self.client = client
        self.keys = RedisKeys(namespace)
        self.served = ServedKeys(namespace)
        self.label_delay_ms = label_delay_ms

    def gather(self, events: Sequence[PaymentAuthorized]) -> list[RedisFacts]:
        """Record the batch in the windows, sightings and uses, and read every feature input:
        one round trip, in time order (so a batch reads as the stream would)."""
        ordered = sorted(events, key=lambda e: e.occurred_at)
        try:
            replies = self._pipeline(ordered)
        except NoScriptError:
            load_scripts(self.client, *SCRIPTS)
            replies = self._pipeline(ordered)
        facts = dict(
            zip((e.payment_id for e in ordered), self._facts(ordered, replies), strict=True)
        )
        return [facts[e.payment_id] for e in events]

    @staticmethod
    def _owners(events: Sequence[PaymentAuthorized]) -> tuple[list[str], list[str]]:
        customers = list(dict.fromkeys(e.customer_id for e in events))
        return customers, list(dict.fromkeys(e.merchant_id for e in events))

    def _pipeline(self, events: Sequence[PaymentAuthorized]) -> list[Any]:
        keys, pipe = self.keys, self.client.pipeline(transaction=False)
        for e in events:
            member = encode_member(e.payment_id, e.amount.amount_minor, e.amount.currency)
            head = [DAY_MS, WINDOW_KEY_TTL_S, epoch_ms(e.occurred_at), member, e.amount.currency]
            c, m = e.customer_id, e.merchant_id
            pipe.evalsha(
                PAYER.sha,
                9,
                keys.window("customer", c),
                keys.window("customer", c, m),
                keys.seen(c, "device"),
                keys.seen(c, "country"),
                keys.links(c),
                keys.fraud(c),
                keys.days(c),
                keys.days(c, m),
                keys.days_totals(c),
                *head,
                e.device_id or "",
                e.ip_country or "",
                SEEN_TTL_S,
                e.card_fingerprint or "",
                GRAPH_CACHE_TTL_S,
                MAX_LINKS,
                DAYS_KEEP_MS,
                DAYS_TTL_S,
                HISTORY_KEEP_MS,
                HISTORY_TTL_S,
            )
            pipe.evalsha(
                READ_RATE.sha,
                3,
                keys.merchant_payments(m),
                keys.merchant_frauds(m),
                keys.merchant_refunds(m),
                head[2],
                e.payment_id,
                self.label_delay_ms,
                MERCHANT_TTL_S,
                REFUND_SPAN_MS,
                *(d * DAY_MS for d in DAY_WINDOWS),
            )
            instruments: tuple[tuple[WindowKind, str | None], ...] = (
                ("card", e.card_fingerprint),
                ("device", e.device_id),
            )
            for kind, entity in instruments:
                if entity:
                    pipe.evalsha(
                        INSTRUMENT.sha,
                        4,
                        keys.window(kind, entity),
                        keys.window(kind, entity, m),
                        keys.users(kind, entity),
                        keys.flagged(kind, entity),
                        *head,
                        c,
                        GRAPH_CACHE_TTL_S,
                        MAX_LINKS,
                    )
            pipe.hgetall(self.served.decision(e.payment_id))
        customers, merchants = self._owners(events)
        for c in customers:
            pipe.hgetall(keys.profile("customer", c))
        for m in merchants:
            pipe.hgetall(keys.profile("merchant", m))
        pipe.get(keys.graph_mark)
        pipe.hgetall(keys.progress)
        return list(pipe.execute())

    def _facts(self, events: Sequence[PaymentAuthorized], replies: list[Any]) -> list[RedisFacts]:
        it: Iterator[Any] = iter(replies)
        per_payment = []
        for e in events:
            payer, rate = next(it), next(it)
            card = next(it) if e.card_fingerprint else None
            device = next(it) if e.device_id else None
            per_payment.append((e, payer, rate, card, device, dict(next(it))))
        customers, merchants = self._owners(events)
        owned = {c: dict(next(it)) for c in customers}
        shops = {m: dict(next(it)) for m in merchants}
        mark = _ms(next(it))
        progress = parse_progress(next(it))
        return [
            self._one(
                e,
                payer,
                rate,
                card,
                device,
                stored,
                owned[e.customer_id],
                shops[e.merchant_id],
                mark,
                progress,
            )
            for e, payer, rate, card, device, stored in per_payment
        ]

    def _one(
        self,
        e: PaymentAuthorized,
        payer: list[Any],
        rate: list[Any],
        card: list[Any] | None,
        device: list[Any] | None,
        stored: dict[str, str],
        customer: dict[str, str],
        merchant: dict[str, str],
        mark: int | None,
        progress: dict[str, PartitionProgress],
    ) -> RedisFacts:
        def windows(reply: list[Any] | None) -> tuple[Window | None, Window | None]:
            if reply is None:
                return None, None
            return Window(*map(int, reply[0:4])), Window(*map(int, reply[4:8]))

        everywhere, here = windows(payer)
        card_w, card_local = windows(card)
        device_w, device_local = windows(device)
        flagged = {*(card or [])[9:], *(device or [])[9:]}
        own = tuple(
            f"{kind}|{entity}"
            for kind, entity in (("device", e.device_id), ("card", e.card_fingerprint))
            if entity
        )
        graph = GraphReads(
            at_ms=epoch_ms(e.occurred_at),
            customer_id=e.customer_id,
            device_users=int(device[8]) if device else 0,
            card_users=int(card[8]) if card else 0,
            flagged=frozenset(map(str, flagged)),
            links=tuple(map(str, payer[_LINKS_AT:])),
            own=own,
            flagged_at_ms=_ms(payer[12]),
        )
        return RedisFacts(
            customer=everywhere or Window(),
            card=card_w,
            device=device_w,
            local=LocalWindows(
                here or Window(),
                card_local,
                device_local,
                day_windows(payer[_LOCAL_DAYS_AT : _LOCAL_DAYS_AT + 8]),
            ),
            customer_profile=customer,
            merchant_profile=merchant,
            device_first_seen_ms=_ms(payer[8]),
            earliest_device_ms=_ms(payer[9]),
            country_first_seen_ms=_ms(payer[10]),
            earliest_country_ms=_ms(payer[11]),
            stored=stored,
            graph=graph,
            graph_mark_ms=mark,
            progress=progress,
            customer_days=day_windows(payer[_DAYS_AT : _DAYS_AT + 8]),
            earlier=Earlier(*map(int, payer[_DAYS_AT + 8 : _LOCAL_DAYS_AT])),
            merchant_refunds=(int(rate[6]), int(rate[7])),
            # READ_RATE's pairs: (payments, known frauds) per window.
            merchant_fraud=MerchantFraud(
                payments=(int(rate[0]), int(rate[2]), int(rate[4])),
                frauds=(int(rate[1]), int(rate[3]), int(rate[5])),
            ),
        )

    def store(self, decisions: Sequence[tuple[dict[str, str], str]], ttl_s: int) -> None:
        """Write decision hashes (fields, payment id) with their TTL, pipelined."""
        pipe = self.client.pipeline(transaction=False)
        for fields, payment_id in decisions:
            flat = [item for pair in fields.items() for item in pair]
            pipe.evalsha(STORE.sha, 1, self.served.decision(payment_id), ttl_s, *flat)
        try:
            pipe.execute()
        except NoScriptError:
            load_scripts(self.client, STORE)
            self.store(decisions, ttl_s)

    def mark_published(self, payment_ids: Sequence[str]) -> None:
        """Record that these decisions reached the decisions topic (a replay skips them)."""
        pipe = self.client.pipeline(transaction=False)
        for payment_id in payment_ids:
            pipe.hset(self.served.decision(payment_id), "published", "1")
        pipe.execute()

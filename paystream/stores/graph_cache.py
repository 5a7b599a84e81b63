"""The graph-feature cache in Redis: who used which device or card, and who is flagged.

The risk agent's graph features (customers per device and per card, flagged customers within
two hops of the payer) need only the graph's ``USED`` edges and fraud flags. The Redis state
projection writes those same facts here, beside the graph sink writing them to Gremlin, so a
decision reads them inside its Redis round trip instead of waiting on Gremlin Server. The
keys are laid out in :mod:`paystream.stores.redis`: a customer's links and flag under the
customer's hash tag, a device's or card's users and flagged users under its own.

A flagged neighbour must reach ``flagged`` of every device and card it used, whichever of the
use and the flag is projected first, by whichever worker. Both writers therefore go through
the customer's slot first, atomically: :data:`LINK_A` records a use and returns the flag,
:data:`FLAG_A` records a flag and returns the uses. Whichever runs second sees the other, and
its second step (:data:`LINK_B`) writes the flagged user. Every write keeps the *earliest*
time (``ZADD LT``; a flagged user is scored by the later of first use and first flag), so a
replay, a duplicate or any arrival order leaves the same cache, and a reader bounded at a
payment's own time sees only what was true then.
"""

from __future__ import annotations

from typing import Literal

from paystream.stores.redis import Script

LinkKind = Literal["device", "card"]
#: Links and users outlive a quiet year; every use refreshes the TTL.
GRAPH_CACHE_TTL_S = 400 * 86400

# Customer slot. KEYS: links(customer), fraud(customer). ARGV: first use ms, link member, TTL.
# Returns the customer's flag time, or nil.
LINK_A = Script(
    """
redis.call('ZADD', KEYS[1], 'LT', ARGV[1], ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return redis.call('GET', KEYS[2])
"""
)
# Customer slot. KEYS: fraud(customer), links(customer). ARGV: flag time ms.
# Keeps the earliest flag; returns it, then every link and its first use.
FLAG_A = Script(
    """
local current = tonumber(redis.call('GET', KEYS[1]) or '')
local flag = tonumber(ARGV[1])
if current == nil or flag < current then
  redis.call('SET', KEYS[1], ARGV[1])
else
  flag = current
end
local out = {string.format('%.0f', flag)}
local links = redis.call('ZRANGE', KEYS[2], 0, -1, 'WITHSCORES')
for i = 1, #links do out[#out + 1] = links[i] end
return out
"""
)
# Device or card slot. KEYS: users(entity), flagged(entity).
# ARGV: first use ms, customer, TTL, the customer's flag ms ('' when not flagged).
LINK_B = Script(
    """
redis.call('ZADD', KEYS[1], 'LT', ARGV[1], ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
if ARGV[4] ~= '' then
  local since = math.max(tonumber(ARGV[1]), tonumber(ARGV[4]))
  redis.call('ZADD', KEYS[2], 'LT', string.format('%.0f', since), ARGV[2])
  redis.call('EXPIRE', KEYS[2], ARGV[3])
end
return 1
"""
)
# KEYS: the mark. ARGV: an event time (ms); the mark only moves forward.
MARK = Script(
    """
local current = tonumber(redis.call('GET', KEYS[1]) or '-1')
if tonumber(ARGV[1]) > current then redis.call('SET', KEYS[1], ARGV[1]) end
return 1
"""
)
SCRIPTS = (LINK_A, FLAG_A, LINK_B, MARK)


def link_member(kind: LinkKind, entity_id: str) -> str:
    """A customer's link to one device or card, as a member of its ``links`` zset."""
    return f"{kind}|{entity_id}"


def parse_link(member: str) -> tuple[LinkKind, str]:
    """Inverse of :func:`link_member`."""
    kind, _, entity_id = member.partition("|")
    if kind == "device":
        return "device", entity_id
    if kind == "card":
        return "card", entity_id
    raise ValueError(f"not a graph cache link: {member!r}")

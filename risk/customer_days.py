"""A customer's day windows and its earlier payments, read in the payer's script.

Two sorted sets per customer hold its authorizations (members as the windows'
``payment|amount|currency``, scored by event time): its whole history across merchants, kept
400 days, and its month at each merchant. The day windows (7 and 30 days, and the count and
sum in the payment's currency over 1, 7 and 30 days) are a scan of the month before the
payment. The earlier payments over the whole history (every currency, and count and sum in
this one) would be a scan of the whole set, which grows with every payment a customer makes:
a customer who pays daily has a year of members, scanned on every decision.

So the history set carries running totals in a hash beside it (``n``, ``n:CUR``, ``s:CUR``),
kept equal to the set's members in the same script: a payment adds to them only when its
``ZADD`` is new (a replay adds nothing), and the trim takes off what it removes. A payment at
or after the newest member (the live case) then reads its earlier payments from the totals
in constant time; one older than the newest (an import or a replay behind the stream) still
scans up to its own time, so every read stays at the payment's own time and exact.

The totals check themselves: their count must equal the set's size before each payment. A
set without totals (written before they existed) or totals without their set (deleted or
expired apart) fail the check and are rebuilt from the set in that call.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from paystream.contracts.fraud_features import DayWindows
from paystream.stores.redis import DAY_MS

#: A customer's month of authorizations at one merchant is kept this long past its newest (the
#: 30-day window, and a day's slack for payments a little out of order).
DAYS_KEEP_MS = 31 * DAY_MS
DAYS_TTL_S = 32 * 86400
#: Its whole history across merchants (the earlier payments a mean and a count are taken of).
HISTORY_KEEP_MS = 400 * DAY_MS
HISTORY_TTL_S = 400 * 86400

# days(key, keep, ttl, totals): adds the payment (ARGV[3] time, ARGV[4] member, ARGV[5] its
# currency) to one set, trims what is older than the newest member by more than ``keep`` (a
# replayed old stretch trims nothing a later payment reads), then counts the 7 and 30 days up
# to the payment's time and the earlier payments in its currency, and their sum, over 1, 7 and
# 30 days. With a ``totals`` key the set is the whole history, and three more values follow:
# its earlier payments in every currency, and in this currency their count and sum.
DAYS_LUA = (
    """
local DAY = """
    + str(DAY_MS)
    + """
local function parse(member)
  local value, cur = string.match(member, '|(%-?%d+)|(%u+)$')
  return tonumber(value), cur
end
local function tally(totals, member, sign)
  local value, cur = parse(member)
  redis.call('HINCRBY', totals, 'n', sign)
  redis.call('HINCRBY', totals, 'n:' .. cur, sign)
  -- Formatted here: Lua would print a sum past 1e14 with an exponent HINCRBY refuses.
  redis.call('HINCRBY', totals, 's:' .. cur, string.format('%.0f', sign * value))
end
local function days(key, keep, ttl, totals)
  local at = tonumber(ARGV[3])
  local exact = true
  if totals then
    -- Totals that do not count the set's members are rebuilt below, never trusted.
    exact = tonumber(redis.call('HGET', totals, 'n') or '0') == redis.call('ZCARD', key)
  end
  local added = redis.call('ZADD', key, ARGV[3], ARGV[4])
  if totals and exact and added == 1 then tally(totals, ARGV[4], 1) end
  local newest = tonumber(redis.call('ZREVRANGE', key, 0, 0, 'WITHSCORES')[2])
  local cut = string.format('(%.0f', newest - keep)
  if totals and exact then
    -- Take the trimmed members off the totals before they go (usually none).
    for _, gone in ipairs(redis.call('ZRANGEBYSCORE', key, '-inf', cut)) do
      tally(totals, gone, -1)
    end
  end
  redis.call('ZREMRANGEBYSCORE', key, '-inf', cut)
  redis.call('EXPIRE', key, ttl)
  if totals then
    if not exact then
      redis.call('DEL', totals)
      for _, member in ipairs(redis.call('ZRANGE', key, 0, -1)) do tally(totals, member, 1) end
    end
    redis.call('EXPIRE', totals, ttl)
  end
  -- In order (no member after this payment): the totals hold its earlier payments, and only
  -- the month before it is scanned. Out of order: the scan runs from the start of the set.
  local in_order = totals and at >= newest
  local from = (totals and not in_order) and '-inf' or string.format('(%.0f', at - 30 * DAY)
  local rows = redis.call('ZRANGEBYSCORE', key, from, string.format('%.0f', at), 'WITHSCORES')
  local spans = {DAY, 7 * DAY, 30 * DAY}
  local week, month, n, sum = 0, 0, {0, 0, 0}, {0, 0, 0}
  local before, before_n, before_sum = 0, 0, 0
  for i = 1, #rows, 2 do
    local t = tonumber(rows[i + 1])
    if t > at - spans[3] then month = month + 1 end
    if t > at - spans[2] then week = week + 1 end
    if rows[i] ~= ARGV[4] then
      before = before + 1
      local value, cur = parse(rows[i])
      if cur == ARGV[5] then
        before_n = before_n + 1
        before_sum = before_sum + value
        for j = 1, 3 do
          if t > at - spans[j] then n[j] = n[j] + 1; sum[j] = sum[j] + value end
        end
      end
    end
  end
  local out = {week, month, n[1], n[2], n[3], sum[1], sum[2], sum[3]}
  if totals then
    if in_order then
      -- Every member is at or before this payment: all of them but itself are earlier.
      local value, cur = parse(ARGV[4])
      local mine = (cur == ARGV[5]) and 1 or 0
      local field = redis.call('HMGET', totals, 'n', 'n:' .. ARGV[5], 's:' .. ARGV[5])
      before = tonumber(field[1] or '0') - 1
      before_n = tonumber(field[2] or '0') - mine
      before_sum = tonumber(field[3] or '0') - mine * value
    end
    out[9], out[10], out[11] = before, before_n, before_sum
  end
  return out
end
"""
)


@dataclass(frozen=True)
class Earlier:
    """A customer's payments before this one: in every currency, and in this payment's
    currency with their sum (minor units)."""

    count: int
    in_currency: int
    in_currency_minor: int


def day_windows(values: Sequence[Any]) -> DayWindows:
    """The eight day-window values of one ``days`` call as :class:`DayWindows`."""
    week, month, n1, n7, n30, s1, s7, s30 = map(int, values)
    return DayWindows(week, month, (n1, n7, n30), (s1, s7, s30))

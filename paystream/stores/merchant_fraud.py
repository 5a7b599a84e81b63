"""A merchant's recent fraud rate in Redis, counted only from labels known in time.

A chargeback reaches a real system days after the payment it disputes. The rate a decision
may use is therefore the Fraud Detection Handbook's *delayed* terminal risk: among the
merchant's payments authorized in a window ending one label delay before the decision, the
share already charged back as fraud by the decision's own time.

Two sorted sets per merchant, under the hash tag ``{merchant:id}`` so one script reads both
(:class:`paystream.stores.redis.RedisKeys`):

* ``payments``: payment ids scored by authorization time. The Redis projection writes every
  authorization (it sees the payment before its refund: both are keyed by customer), and the
  risk agent writes the ones it decides, so the denominator does not wait for the projection;
* ``frauds``: ``"{payment}|{label ms}"`` scored by the payment's authorization time, written
  by the projection on a ``fraud_chargeback`` refund. A second chargeback of one payment keeps
  the earliest label, so a replay or a duplicate leaves one member;
* ``refunds``: refund ids of every reason, scored by issue time, written by the projection:
  the merchant's refund rate is its refunds over its payments in the last 30 days, both in
  event time, so a history imported at any speed reads what was true at each payment.

Every write is idempotent (``ZADD LT`` keeps the earliest time), so a replay changes nothing.
"""

from __future__ import annotations

from paystream.stores.redis import DAY_MS, WINDOW_SLACK_MS, Script

#: How long a merchant's payments, frauds and refunds are kept: the longest window after the
#: delay, and the windows' slack for an agent deciding a history behind the projection.
MERCHANT_KEEP_MS = 37 * DAY_MS + WINDOW_SLACK_MS
#: The span of the merchant's refund rate.
REFUND_SPAN_MS = 30 * DAY_MS
MERCHANT_TTL_S = 120 * 86400

# KEYS: payments (or refunds). ARGV: TTL, keep ms, then (time ms, member) pairs. Trims relative to
# the newest payment, so a replayed old stretch never trims what a later one still reads.
RECORD_PAYMENTS = Script(
    """
for i = 3, #ARGV, 2 do
  redis.call('ZADD', KEYS[1], 'LT', ARGV[i], ARGV[i + 1])
end
local newest = redis.call('ZREVRANGE', KEYS[1], 0, 0, 'WITHSCORES')[2]
if newest then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf',
    string.format('(%.0f', tonumber(newest) - tonumber(ARGV[2])))
end
redis.call('EXPIRE', KEYS[1], ARGV[1])
return 1
"""
)
# KEYS: payments, frauds. ARGV: payment id, label ms, TTL, keep ms.
# Returns 1 if recorded, 0 if the payment is unknown here (older than the kept month).
RECORD_FRAUD = Script(
    """
local auth = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not auth then return 0 end
local prefix = ARGV[1] .. '|'
for _, member in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], auth, auth)) do
  if string.sub(member, 1, #prefix) == prefix then
    if tonumber(string.sub(member, #prefix + 1)) <= tonumber(ARGV[2]) then return 1 end
    redis.call('ZREM', KEYS[2], member)
  end
end
redis.call('ZADD', KEYS[2], auth, prefix .. ARGV[2])
local newest = redis.call('ZREVRANGE', KEYS[2], 0, 0, 'WITHSCORES')[2]
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf',
  string.format('(%.0f', tonumber(newest) - tonumber(ARGV[4])))
redis.call('EXPIRE', KEYS[2], ARGV[3])
return 1
"""
)
# KEYS: payments, frauds, refunds. ARGV: at ms, payment id, label delay ms, TTL, refund span
# ms, then the windows' spans in ms. Records the payment, then returns (payments, known frauds)
# per window: authorized in (at - delay - span, at - delay], and for frauds labelled no later
# than ``at``; then the payments and the refunds of (at - refund span, at].
READ_RATE = Script(
    """
local at, delay = tonumber(ARGV[1]), tonumber(ARGV[3])
redis.call('ZADD', KEYS[1], 'LT', ARGV[1], ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[4])
local hi = at - delay
local widest = tonumber(ARGV[#ARGV])
local frauds = redis.call('ZRANGEBYSCORE', KEYS[2], string.format('(%.0f', hi - widest),
  string.format('%.0f', hi), 'WITHSCORES')
local out = {}
for j = 6, #ARGV do
  local lo = hi - tonumber(ARGV[j])
  out[#out + 1] = redis.call('ZCOUNT', KEYS[1], string.format('(%.0f', lo),
    string.format('%.0f', hi))
  local known = 0
  for i = 1, #frauds, 2 do
    local label = tonumber(string.match(frauds[i], '|(%d+)$'))
    if tonumber(frauds[i + 1]) > lo and label <= at then known = known + 1 end
  end
  out[#out + 1] = known
end
local lo = string.format('(%.0f', at - tonumber(ARGV[5]))
out[#out + 1] = redis.call('ZCOUNT', KEYS[1], lo, string.format('%.0f', at))
out[#out + 1] = redis.call('ZCOUNT', KEYS[3], lo, string.format('%.0f', at))
return out
"""
)
SCRIPTS = (RECORD_PAYMENTS, RECORD_FRAUD, READ_RATE)
